"""Benchmark: how fast the funding service consumes the plan's events (the replay of everything on the topics).

    .venv/bin/python -m benchmarks.funding_replay

Runs the real funding app in this process on a fresh schema with a fresh consumer group, so it reads
trainee-enrolled, tier-completed and enrollment-withdrawn from the beginning (fill them first, e.g. with
`make full-plan`). Prints messages per second until the group has caught up; drops the schema after.
"""

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
import typer
import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from rich.progress import Progress

from funding.main import build_app
from funding.settings import Settings
from infra import kafka, postgres, secrets
from plan_events import EnrollmentWithdrawn, TierCompleted, TraineeEnrolled

TOPICS = (TraineeEnrolled.topic, TierCompleted.topic, EnrollmentWithdrawn.topic)


async def ends() -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.BOOTSTRAP)
    await consumer.start()
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.BOOTSTRAP)
        await admin.start()
        described = await admin.describe_topics(list(TOPICS))
        await admin.close()
        partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def committed(admin: AIOKafkaAdminClient, group: str) -> int:
    return sum(max(m.offset, 0) for m in (await admin.list_consumer_group_offsets(group)).values())


def memory(name: str) -> float:
    """VmRSS or VmHWM of this process (the funding app runs in it), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


async def replay() -> None:
    schema, group = f"bench_{uuid.uuid4().hex[:8]}", f"bench-funding-{uuid.uuid4().hex[:8]}"
    admin_url = postgres.admin_url()
    target = sum((await ends()).values())
    settings = Settings(
        database_url=admin_url,
        migrate_on_start=True,  # a throw-away schema
        db_schema=schema,
        kafka_bootstrap_servers=kafka.BOOTSTRAP,
        consumer_group=group,
        finance_api_key=secrets.load()["FINANCE_API_KEY"],
    )  # type: ignore[arg-type]
    app = build_app(settings)
    # one admin client for the whole replay: it shares this process and its event loop with the app, and a new
    # client per look (connect, bootstrap, metadata) took 7-10 % of the process's samples (py-spy)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.BOOTSTRAP)
    await admin.start()
    try:
        started = time.perf_counter()
        async with app.router.lifespan_context(app):
            with Progress() as bar:
                task = bar.add_task("funding consumes", total=target)
                done = 0
                while done < target:
                    await asyncio.sleep(0.1)  # the clock stops within 0.1 s of the last commit
                    done = await committed(admin, group)
                    bar.update(task, completed=done)
            elapsed = time.perf_counter() - started
        print(f"funding replay: {target:,} messages in {elapsed:.1f}s = {target / elapsed:,.0f} messages/s")
        print(f"funding replay memory: RSS {memory('VmRSS'):.0f} MiB, peak {memory('VmHWM'):.0f} MiB (this process)")
    finally:
        await admin.close()
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


def main() -> None:
    """Replay every funding input event through a fresh funding app and print the rate."""
    uvloop.run(replay())


if __name__ == "__main__":
    typer.run(main)
