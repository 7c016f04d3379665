"""The life of one service process: pool, migrations, consumers, relay, health.

Each service's composition root calls `running(...)` inside its FastAPI lifespan and adds its
own routes; this module is the part that is the same for all of them.
"""

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from plan_runtime.consumer import Inbox
from plan_runtime.db import create_pool
from plan_runtime.health import Health
from plan_runtime.migrations import RUNTIME_MIGRATIONS, apply_grants, migrate, require_applied
from plan_runtime.outbox import KafkaPublisher, Relay
from plan_runtime.settings import RuntimeSettings
from plan_runtime.subscription import Subscription
from plan_runtime.transient import retrying

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: RuntimeSettings
    pool: asyncpg.Pool
    health: Health
    relay: Relay
    subscriptions: list[Subscription] = field(default_factory=list)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    async def check(self) -> dict[str, Any]:
        """Readiness: live checks of the database, the broker, each consumer and the relay."""
        settings, health = self.settings, self.health
        try:
            async with asyncio.timeout(3):
                outbox = await self.pool.fetchrow(
                    """SELECT count(*) FILTER (WHERE parked_at IS NULL) AS unpublished,
                              count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked,
                              extract(epoch FROM now() - min(created_at) FILTER (WHERE parked_at IS NULL))
                                  AS oldest_seconds
                       FROM outbox"""
                )
            health.ok("database")
        except Exception as error:
            outbox = None
            health.failing("database", error)
        producer: AIOKafkaProducer = self.relay.publisher.producer  # type: ignore[attr-defined]
        try:
            async with asyncio.timeout(3):
                await producer.client.fetch_all_metadata()
            health.ok("broker")
        except Exception as error:
            health.failing("broker", error)
        report = health.report()
        problems: list[str] = [f"{name}: {part['detail']}" for name, part in report["parts"].items() if not part["ok"]]
        now = time.monotonic()
        consumers: dict[str, Any] = {}
        for subscription in self.subscriptions:
            state, name = subscription.state, subscription.part
            task = self.tasks.get(name)
            poll_age = None if state.last_poll is None else round(now - state.last_poll, 1)
            consumers[name] = {
                "task_alive": task is not None and not task.done(),
                "partitions_assigned": state.assigned,
                "seconds_since_last_poll": poll_age,
                "lag": state.lag,
                "restarts": state.restarts,
            }
            if task is None or task.done():
                problems.append(f"{name}: task is not running")
            elif poll_age is None or poll_age > settings.ready_max_poll_age_seconds:
                problems.append(f"{name}: no successful poll for {poll_age or round(now - state.started, 1)} s")
            elif state.assigned == 0 and now - state.started > settings.ready_max_poll_age_seconds:
                problems.append(f"{name}: no partition assigned")
        relay_task = self.tasks.get("relay")
        relay: dict[str, Any] = {"task_alive": relay_task is not None and not relay_task.done()}
        if outbox is not None:
            oldest = outbox["oldest_seconds"]
            relay |= {
                "unpublished": outbox["unpublished"],
                "parked": outbox["parked"],
                "oldest_unpublished_seconds": None if oldest is None else round(float(oldest), 1),
            }
            if oldest is not None and oldest > settings.ready_max_outbox_age_seconds:
                problems.append(f"outbox-relay: a row has waited {round(float(oldest))} s to be published")
        relay["restarts"] = self.relay.restarts
        if not relay["task_alive"]:
            problems.append("outbox-relay: task is not running")
        return {
            "status": "ok" if not problems else "unhealthy",
            "problems": problems,
            "consumers": consumers,
            "relay": relay,
            "parts": report["parts"],
        }


async def _migrate(settings: RuntimeSettings, pool: asyncpg.Pool, tracks: dict[str, Path]) -> None:
    """MIGRATE_ON_START: migrate as MIGRATION_DATABASE_URL's role (then grant this process's role what it needs),
    or, without one, as this process's own role (a test's throw-away schema)."""
    # on a pool of its own, closed after: the migrations' session advisory lock never rides on a connection of the
    # runtime's pool, whose release does not reset sessions (plan_runtime.db)
    migrator = settings.migration_database_url
    dsn = settings.database_url if migrator is None else migrator.get_secret_value()
    owner = await create_pool(dsn, settings.db_schema, 2)
    try:
        applied = await migrate(owner, settings.db_schema, tracks)
        if migrator is not None:
            runtime_role = await pool.fetchval("SELECT current_user")
            async with owner.acquire() as conn:
                if runtime_role != await conn.fetchval("SELECT current_user"):
                    await apply_grants(conn, settings.db_schema, runtime_role, tracks)
    finally:
        await owner.close()
    log.info("schema %s migrated at start-up (%d applied now)", settings.db_schema, len(applied))


GC_THRESHOLDS = (20_000, 20, 20)
"""The garbage collector's generation thresholds in a running service (Python's default: 700, 10, 10)."""


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
    tracks = {"runtime": RUNTIME_MIGRATIONS, source: migrations}
    try:
        if settings.migrate_on_start:
            await _migrate(settings, pool, tracks)
        else:  # the migration role applied them (`python -m infra migrate`); this role may not
            await require_applied(pool, settings.db_schema, tracks)
    except BaseException:
        await pool.close()
        raise
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
        settings.relay_max_attempts,
    )
    runtime = Runtime(settings, pool, health, relay)
    for inbox in inboxes(pool):
        instance = f"{settings.consumer_instance_id}-{inbox.consumer}" if settings.consumer_instance_id else None
        runtime.subscriptions.append(
            Subscription(
                settings.kafka_bootstrap_servers,
                inbox,
                health,
                batch_size=settings.consumer_batch_size,
                max_wait=settings.retry_max_seconds,
                session_timeout_ms=settings.consumer_session_timeout_ms,
                group_instance_id=instance,
            )
        )
    # The garbage collector (docs/performance.md, "Sixth round"). What start-up built lives as long as the process:
    # frozen out of the collector's way, a full collection (which walks every tracked object, 31-60 ms for a
    # consumer's modules on this box, and delays every event of its batch) walks only what came after. And a
    # collection only after 20,000 more container objects than were freed, not 700: a decoded batch waiting for its
    # turn survived, and was walked by, hundreds of young collections (4.7 s of a 41.7 s replay; 0.2 s now). Objects
    # are freed by their reference counts as before; only garbage in cycles waits longer: the portal's RSS at the
    # end of a plan was 102-125 MiB against 102-104 before, the others within a few MiB.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    runtime.tasks["relay"] = asyncio.create_task(relay.run(), name=f"{source}-relay")
    for subscription in runtime.subscriptions:
        runtime.tasks[subscription.part] = asyncio.create_task(subscription.run(), name=subscription.part)
    log.info("%s: running", source)
    try:
        yield runtime
    finally:
        for subscription in runtime.subscriptions:
            subscription.stop()
        relay.stop()  # a graceful stop never leaves a published batch unmarked (no duplicate on restart)
        tasks = list(runtime.tasks.values())
        _, late = await asyncio.wait(tasks, timeout=settings.retry_max_seconds + 15)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await publisher.stop()
        await pool.close()
        gc.unfreeze()  # a process that starts another runtime (tests, benchmarks) may collect this one's objects
        log.info("%s: stopped", source)
