"""Benchmark: the honest denominator of the funding replay — a hand-written aiokafka + asyncpg chain.

    flock /tmp/plan-services.lock .venv/bin/python -m benchmarks.raw_baseline

Does the same delivery work per message as funding's inbox (plan_runtime.consumer.Inbox), with nothing of
the service around it: read a batch from the broker (getmany, big max_records); in ONE database transaction
per batch insert the inbox rows of the messages funding has business with (a subsidised tier: funding leaves a
basic one out, with no inbox row) (`ON CONFLICT DO NOTHING RETURNING`: duplicates are skipped), one
effect row per new message (each changes a claim)
and one outbox row per new message that funding announces (a subsidised completion: a small JSON event, with the
NOTIFY that wakes a relay, as `emit` does); commit; then commit each partition's offset (`last + 1`).
Synchronous commit stays on, as in the cluster's configuration.

The workload is the funding replay's (`benchmarks.funding_replay`): the same records — every message on
trainee-enrolled, tier-completed and enrollment-withdrawn, copied key and value unchanged (untimed) into a
topic of this benchmark's own with as many partitions — on the same broker and database, through a fresh
consumer group. The clock runs from the consumer's start (joining the group included, as the replay's
includes the app's start) until every offset is committed. The topic and the schema are deleted after.
With empty plan topics (a wiped broker), `--messages` synthetic events of the same shape are used instead.

Reading the plan's topics (for the copy) takes `flock /tmp/plan-services.lock` like the other benchmarks.
"""

import asyncio
import json
import random
import re
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
import typer
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from infra import kafka, postgres
from plan_events import EnrollmentWithdrawn, TierCompleted, TraineeEnrolled
from plan_runtime import records

# Other sessions' fuzz traffic puts header keys that are not UTF-8 on the plan's topics, which stops aiokafka's
# strict parsers; like every service, read with the runtime's lenient (pure-Python) record parser. The raw
# chain therefore parses records exactly as funding does.
records.install()

SOURCES = (TraineeEnrolled.topic, TierCompleted.topic, EnrollmentWithdrawn.topic)  # funding_replay's TOPICS
PARTITIONS = 6  # the plan's topics (plan_runtime.topics.ensure_topics)

SCHEMA_SQL = """
CREATE TABLE {schema}.inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE TABLE {schema}.effects (
    event_id      uuid        PRIMARY KEY,
    kind          text        NOT NULL,
    enrollment_id uuid,
    decided_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {schema}.outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    topic        text        NOT NULL,
    key          bytea,
    value        bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text,
    parked_at    timestamptz
);
CREATE INDEX ON {schema}.outbox (id) WHERE parked_at IS NULL;
"""  # the same keys and indexes as the runtime's inbox and outbox (plan_runtime/migrations)


@dataclass
class Result:
    messages: int
    seconds: float
    batches: int
    applied: int
    duplicates: int
    source: str

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


async def partitions_of(topics: tuple[str, ...]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.BOOTSTRAP)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
        return [TopicPartition(d["topic"], p["partition"]) for d in described for p in d.get("partitions", [])]
    finally:
        await admin.close()


async def copy_plan_records(target: str, limit: int | None) -> int:
    """Copy every record of the funding replay's topics (key and value as they are) into `target`."""
    partitions = await partitions_of(SOURCES)
    reader = AIOKafkaConsumer(bootstrap_servers=kafka.BOOTSTRAP, enable_auto_commit=False, max_poll_records=10_000)
    writer = AIOKafkaProducer(bootstrap_servers=kafka.BOOTSTRAP, linger_ms=20, max_batch_size=1024 * 1024)
    await reader.start()
    await writer.start()
    copied = 0
    try:
        if not partitions:
            return 0
        ends = await reader.end_offsets(partitions)
        starts = await reader.beginning_offsets(partitions)
        left = {p: ends[p] for p in partitions if ends[p] > starts[p]}
        reader.assign(list(left))
        await reader.seek_to_beginning(*left)
        pending, idle = [], 0
        while left and (limit is None or copied < limit) and idle < 10:
            got = await reader.getmany(timeout_ms=1000, max_records=10_000)
            idle = 0 if got else idle + 1
            for partition, part in got.items():
                for record in part:
                    if record.offset >= left.get(partition, -1):
                        continue
                    if limit is None or copied < limit:
                        # a record with neither key nor value (fuzz traffic) cannot be produced as it is: an empty value
                        value = record.value if record.value is not None or record.key is not None else b""
                        pending.append(await writer.send(target, value, key=record.key))
                        copied += 1
                if part and part[-1].offset + 1 >= ends[partition]:
                    left.pop(partition, None)
            if len(pending) > 50_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        return copied
    finally:
        await reader.stop()
        await writer.stop()


async def synthetic_records(target: str, count: int) -> int:
    """Events of the replay's shape (enrolments, completions, withdrawals) when the plan's topics are empty."""
    rng = random.Random(13)
    writer = AIOKafkaProducer(bootstrap_servers=kafka.BOOTSTRAP, linger_ms=20, max_batch_size=1024 * 1024)
    await writer.start()
    try:
        pending = []
        for n in range(count):
            kind = rng.choices(("trainee-enrolled", "tier-completed", "enrollment-withdrawn"), (52, 46, 2))[0]
            trainee = f"trainee-{rng.getrandbits(48):012x}"
            body = {
                "event_id": str(uuid.uuid4()),
                "type": kind,
                "version": 1,
                "occurred_at": "2020-08-08T09:00:00Z",
                "source": "enrollment",
                "subject": trainee,
                "correlation_id": str(uuid.uuid4()),
                "causation_id": None,
                "enrollment_id": str(uuid.uuid4()),
                "trainee_id": trainee,
                "institution_id": "00000000-0000-4000-8000-00000000a001",
                "tier": "basic" if n % 10 else "professional",
                "target_group": "rural_household",
                "mode": "offline",
                "starts_on": "2020-08-08",
                "niche": "cashmere and fur",
            }
            pending.append(await writer.send(target, json.dumps(body).encode(), key=trainee.encode()))
        await asyncio.gather(*pending)
        return count
    finally:
        await writer.stop()


SUBSIDISED = ("professional", "senior")  # funding's policy: basic is not paid from the fund


@dataclass
class Prepared:
    """A batch decoded, its rows built: done while the previous batch's transaction is in PostgreSQL.

    The effect and outbox rows are funding's share of the work: an enrolment, completion or withdrawal in a
    subsidised tier changes a claim (an effect row); a completion in one is announced (an outbox row). A basic
    one is read, parsed and checked, and takes no inbox row: funding leaves it out (`plan_runtime.consumer.Only`,
    docs/performance.md, tenth round)."""

    offsets: dict[TopicPartition, OffsetAndMetadata]
    ids: list[str]
    kinds: list[str]
    enrollments: list[str | None]
    announce: list[bool]
    keys: list[bytes | None]
    bodies: list[dict[str, Any]]


def prepare(got: dict[TopicPartition, list[Any]]) -> Prepared:
    records, bodies = [], []
    for record in (r for part in got.values() for r in part):
        try:  # what the inbox needs: an object with a uuid event_id (and enrollment_id, if any)
            body = json.loads(record.value or b"")
            uuid.UUID(body["event_id"])
            if body.get("enrollment_id") is not None:
                uuid.UUID(body["enrollment_id"])
            if not isinstance(body.get("type"), str) or not EVENT_TYPE.fullmatch(body["type"]):
                raise TypeError("no event type")  # fuzz traffic: NUL, lone surrogates, numbers
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            continue  # funding parks such a record as a dead letter; here it is only counted as read
        if body.get("tier") in SUBSIDISED:  # a basic course is none of funding's business: no inbox row
            records.append(record)
            bodies.append(body)
    return Prepared(
        {p: OffsetAndMetadata(part[-1].offset + 1, "") for p, part in got.items()},
        [b["event_id"] for b in bodies],
        [b["type"] for b in bodies],
        [b.get("enrollment_id") for b in bodies],
        [b["type"] == "tier-completed" for b in bodies],
        [r.key for r in records],
        bodies,
    )


def announcement(out_id: str, body: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "event_id": out_id,
            "type": "raw-effect-noted",
            "version": 1,
            "source": "raw-baseline",
            "subject": body.get("trainee_id"),
            "causation_id": body["event_id"],
            "enrollment_id": body.get("enrollment_id"),
        }
    ).encode()


async def apply_batch(conn: asyncpg.Connection, schema: str, consumer: str, batch: Prepared) -> tuple[int, int]:
    """One transaction: inbox rows (dedupe), an effect row per new message (each changes a claim) and an outbox row
    per new message that funding announces."""
    async with conn.transaction():
        fresh = {
            str(row[0])
            for row in await conn.fetch(
                f"INSERT INTO {schema}.inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])"
                " ON CONFLICT DO NOTHING RETURNING event_id",
                consumer,
                batch.ids,
            )
        }
        new = []
        for i, event_id in enumerate(batch.ids):
            if event_id in fresh:
                fresh.discard(event_id)  # the same event twice in one batch: once
                new.append(i)
        effects = new  # each message kept changes a claim
        if effects:
            await conn.execute(
                f"INSERT INTO {schema}.effects (event_id, kind, enrollment_id)"
                " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[])",
                [batch.ids[i] for i in effects],
                [batch.kinds[i] for i in effects],
                [batch.enrollments[i] for i in effects],
            )
        announced = [i for i in effects if batch.announce[i]]
        if announced:
            out_ids = [str(uuid.uuid4()) for _ in announced]
            await conn.execute(
                f"""WITH appended AS (
                       INSERT INTO {schema}.outbox (event_id, topic, key, value)
                       SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[]) RETURNING 1)
                   SELECT pg_notify('outbox_{schema}', '')""",
                out_ids,
                ["raw-effect-noted"] * len(announced),
                [batch.keys[i] for i in announced],
                [announcement(o, batch.bodies[i]) for o, i in zip(out_ids, announced, strict=True)],
            )
    return len(new), len(batch.ids) - len(new)


async def consume(topic: str, schema: str, total: int, batch: int) -> tuple[float, int, int, int]:
    """One consumer, batches applied strictly in order; reading and decoding batch n+1 overlaps batch n's
    transaction (a queue of one), and offsets are committed only after their transaction committed."""
    group = f"bench-raw-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(postgres.admin_url())
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.BOOTSTRAP,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    queue: asyncio.Queue[tuple[Prepared, int]] = asyncio.Queue(maxsize=1)

    async def read() -> None:
        fetched = 0
        while fetched < total:
            got = await consumer.getmany(timeout_ms=500, max_records=batch)
            if got:
                count = sum(len(part) for part in got.values())
                fetched += count
                await queue.put((prepare(got), count))

    done = batches = applied = 0
    started = time.perf_counter()
    await consumer.start()
    reader = asyncio.create_task(read())
    try:
        while done < total:
            try:  # a reader that died or records that never come must not hang the benchmark
                prepared, count = await asyncio.wait_for(queue.get(), STALL_SECONDS)
            except TimeoutError:
                if reader.done() and (failure := reader.exception()):
                    raise RuntimeError(f"the raw baseline's reader failed: {failure!r}"[:300]) from failure
                raise RuntimeError(f"no records for {STALL_SECONDS}s: {done:,} of {total:,} consumed") from None
            new, _ = await apply_batch(conn, schema, group, prepared)
            await consumer.commit(prepared.offsets)
            done, batches, applied = done + count, batches + 1, applied + new
        elapsed = time.perf_counter() - started
    finally:
        reader.cancel()
        await consumer.stop()
        await conn.close()
    return elapsed, batches, applied, total - applied


STALL_SECONDS = 60
EVENT_TYPE = re.compile(r"[a-z][a-z-]{0,63}")


async def run(messages: int | None, batch: int, synthetic: bool = False) -> Result:
    suffix = uuid.uuid4().hex[:8]
    topic, schema = f"bench-raw-{suffix}", f"bench_raw_{suffix}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.BOOTSTRAP)
    await admin.start()
    conn = await asyncpg.connect(postgres.admin_url())
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(SCHEMA_SQL.format(schema=schema))
        total, source = 0, ""
        if not synthetic:
            total, source = await copy_plan_records(topic, messages), "the plan's funding input records"
        if total == 0:
            total, source = await synthetic_records(topic, messages or 220_421), "synthetic events"
        elapsed, batches, applied, duplicates = await consume(topic, schema, total, batch)
        return Result(total, elapsed, batches, applied, duplicates, source)
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()


def measure(messages: int | None = None, batch: int = 10_000, synthetic: bool = False) -> Result:
    return uvloop.run(run(messages, batch, synthetic))


def main(
    messages: Annotated[
        int | None, typer.Option(help="at most this many records (default: all of the funding replay's)")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="max_records per getmany, i.e. per transaction")] = 10_000,
    synthetic: Annotated[
        bool, typer.Option("--synthetic", help="generated events of the same shape, not the plan's (no lock needed)")
    ] = False,
) -> None:
    """Run the raw aiokafka + asyncpg inbox/effect/outbox chain over the funding replay's records; print the rate."""
    result = measure(messages, batch, synthetic)
    print(
        f"raw baseline: {result.messages:,} messages in {result.seconds:.1f}s = {result.rate:,.0f} messages/s "
        f"({result.batches} batches of up to {batch:,}; {result.applied:,} applied, {result.duplicates:,} "
        f"duplicates; {result.source})"
    )


if __name__ == "__main__":
    typer.run(main)
