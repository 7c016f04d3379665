"""Fixtures for tests against the real Kafka broker and PostgreSQL."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from plan_runtime import ensure_topics
from tests.infrastructure import Infrastructure, real_infrastructure

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    with real_infrastructure() as infra:
        asyncio.run(ensure_topics(infra.kafka))
        yield infra


@dataclass
class Schema:
    name: str
    pool: asyncpg.Pool

    async def count(self, sql: str, *args: object) -> int:
        return int(await self.pool.fetchval(sql, *args))


@pytest.fixture
async def schema(infrastructure: Infrastructure) -> AsyncIterator[Schema]:
    """A fresh schema of its own for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(infrastructure.database_url)
    await admin.execute(f"CREATE SCHEMA {name}")
    pool = await asyncpg.create_pool(
        infrastructure.database_url, min_size=1, max_size=4, server_settings={"search_path": name}
    )
    assert pool is not None
    try:
        yield Schema(name, pool)
    finally:
        await pool.close()
        await admin.execute(f"DROP SCHEMA {name} CASCADE")
        await admin.close()


@dataclass
class Probes:
    """Starts the probe service (tests/support/probe.py) as real processes."""

    infra: Infrastructure
    schema: str
    group: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, fault: str | None = None) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": self.infra.database_url,
            "DB_SCHEMA": self.schema,
            "MIGRATE_ON_START": "true",  # a throw-away schema, migrated by the admin it runs as
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.kafka,
            "PROBE_GROUP": self.group,
            "RELAY_POLL_SECONDS": "0.2",
            "RETRY_MAX_SECONDS": "2",
        }
        env.pop("PLAN_FAULT_AT", None)
        if fault:
            env["PLAN_FAULT_AT"] = fault
        log = open(ROOT / ".local" / "logs" / f"probe-{self.schema}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.probe"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()


@pytest.fixture
def probes(infrastructure: Infrastructure, schema: Schema) -> Iterator[Probes]:
    (ROOT / ".local" / "logs").mkdir(parents=True, exist_ok=True)
    probes = Probes(infrastructure, schema.name, f"probe-{schema.name}")
    try:
        yield probes
    finally:
        probes.stop_all()


async def wait_exit(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    for _ in range(int(timeout * 10)):
        if process.poll() is not None:
            return process.returncode
        await asyncio.sleep(0.1)
    raise AssertionError("the process did not exit")
