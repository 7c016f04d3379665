"""The life of one service process: pool, migrations, subscribers, relay, /health.

Each service's composition root calls `running(...)` inside its FastAPI lifespan and adds its
own routes; this module is the part that is the same for all of them.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from plan_runtime.consumer import Inbox
from plan_runtime.db import create_pool
from plan_runtime.health import Health
from plan_runtime.migrations import RUNTIME_MIGRATIONS, migrate
from plan_runtime.outbox import KafkaPublisher, Relay
from plan_runtime.settings import RuntimeSettings
from plan_runtime.subscription import subscribe
from plan_runtime.transient import retrying

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: RuntimeSettings
    pool: asyncpg.Pool
    health: Health
    relay: Relay
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def check(self) -> dict[str, object]:
        """Live checks of the database and the broker, on top of the parts' last reports."""
        try:
            async with asyncio.timeout(3):
                await self.pool.fetchval("SELECT 1")
            self.health.ok("database")
        except Exception as error:
            self.health.failing("database", error)
        producer: AIOKafkaProducer = self.relay.publisher.producer  # type: ignore[attr-defined]
        try:
            async with asyncio.timeout(3):
                await producer.client.fetch_all_metadata()
            self.health.ok("broker")
        except Exception as error:
            self.health.failing("broker", error)
        return self.health.report()


@contextlib.asynccontextmanager
async def running(
    settings: RuntimeSettings,
    source: str,
    migrations: Path,
    inboxes: Callable[[asyncpg.Pool], Sequence[Inbox]],
    prepare: Callable[[asyncpg.Pool], Awaitable[None]] | None = None,
) -> AsyncIterator[Runtime]:
    """Start everything in order (waiting out a database or broker that is not up yet); stop in reverse."""
    health = Health()
    async for attempt in retrying(settings.retry_max_seconds, give_up_after=120):
        with attempt:
            pool = await create_pool(settings.database_url, settings.db_schema, settings.db_pool_size)
    applied = await migrate(pool, settings.db_schema, {"runtime": RUNTIME_MIGRATIONS, source: migrations})
    log.info("%s: schema %s migrated (%d applied now)", source, settings.db_schema, len(applied))
    if prepare is not None:  # before any consumer runs
        await prepare(pool)
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers)
    async for attempt in retrying(settings.retry_max_seconds, give_up_after=120):
        with attempt:
            await publisher.start()
    relay = Relay(
        pool,
        settings.db_schema,
        publisher,
        health,
        settings.relay_batch_size,
        settings.relay_poll_seconds,
        settings.retry_max_seconds,
    )
    broker = KafkaBroker(settings.kafka_bootstrap_servers, logger=log)
    for inbox in inboxes(pool):
        subscribe(
            broker,
            inbox,
            health,
            batch_size=settings.consumer_batch_size,
            max_wait=settings.retry_max_seconds,
        )
    runtime = Runtime(settings, pool, health, relay)
    runtime.tasks.append(asyncio.create_task(relay.run(), name=f"{source}-relay"))
    await broker.start()
    log.info("%s: running", source)
    try:
        yield runtime
    finally:
        await broker.stop()
        relay.stop()  # a graceful stop never leaves a published batch unmarked (no duplicate on restart)
        _, late = await asyncio.wait(runtime.tasks, timeout=settings.retry_max_seconds + 15)
        for task in late:
            task.cancel()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
        await publisher.stop()
        await pool.close()
        log.info("%s: stopped", source)
