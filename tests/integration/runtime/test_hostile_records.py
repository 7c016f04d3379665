"""The pipeline survives any record (issue 10): nothing skipped, nothing stuck, nothing silent.

On a real process, broker and database: records with bytes of any kind, headers that are not UTF-8,
no key or a huge one, no value, a value near the broker's limit, huge integers, deep nesting — each
is applied or dead-lettered, offsets reach the end of every partition, the outbox drains. A row the
broker refuses for good is parked and the relay goes on. A dead consumer turns readiness red.
"""

import asyncio
import json
import uuid
from dataclasses import dataclass

import httpx
from aiokafka import AIOKafkaProducer, TopicPartition

from funding.main import build_app
from funding.settings import Settings
from plan_events import (
    EnrollmentWithdrawn,
    InstitutionReinstated,
    InstitutionSuspended,
    MessageDeadLettered,
    TierCompleted,
    TraineeEnrolled,
    decode,
)
from plan_runtime import RUNTIME_MIGRATIONS, Health, KafkaPublisher, Relay, emit, migrate
from plan_runtime.dead_letters import LISTED_KEY_BYTES, list_dead_letters, list_parked, retry_parked
from plan_runtime.outbox import emit_raw
from tests.infrastructure import Infrastructure
from tests.integration.conftest import Probes, Schema
from tests.integration.runtime.test_delivery import prepare
from tests.support.kafka import TopicWatcher, committed, eventually, group_starts_at_end
from tests.support.plan import enrolment
from tests.support.services import serving

TOPIC = TraineeEnrolled.topic
FUNDING_INPUTS = (
    TOPIC,
    TierCompleted.topic,
    EnrollmentWithdrawn.topic,
    InstitutionSuspended.topic,
    InstitutionReinstated.topic,
)


@dataclass(frozen=True)
class Sent:
    partition: TopicPartition
    offset: int
    good: bool


async def send_raw(
    bootstrap: str, records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]], bool]]
) -> list[Sent]:
    """(key, value, headers, good) sent as they are; returns where each landed."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=1_048_576)
    await producer.start()
    try:
        landed = []
        for key, value, headers, good in records:
            meta = await producer.send_and_wait(TOPIC, value, key=key, headers=headers)
            landed.append(Sent(TopicPartition(TOPIC, meta.partition), meta.offset, good))
        return landed
    finally:
        await producer.stop()


async def test_any_record_is_applied_or_dead_lettered_and_offsets_reach_the_end(
    infrastructure: Infrastructure, schema: Schema, probes: Probes
) -> None:
    await prepare(schema, infrastructure, probes)
    good = [enrolment() for _ in range(6)]
    big = b'{"type": "trainee-enrolled", "padding": "' + b"x" * 900_000 + b'"}'
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]], bool]] = [
        (good[0].key(), good[0].to_bytes(), [("trace", b"\xff\xfe\xfd not utf-8")], True),  # headers are never read
        (None, good[1].to_bytes(), [], True),  # no key
        (b"\x00\xff" * 50_000, b"\x80 not json", [], False),  # a 100 KB key of junk
        (b"k", None, [], False),  # no value at all
        (b"k", big, [("x", b"\xc3\x28")] * 20, False),  # near the broker's size limit
        (b"k", b'{"type": "trainee-enrolled", "version": 1' + b"0" * 5_000 + b"}", [], False),  # a huge integer
        (b"k", b"[" * 50_000 + b"]" * 50_000, [], False),  # nesting past the parser's recursion limit
        (b"k", good[2].to_bytes()[:-1] + b', "x": ' + b"[" * 40 + b"]" * 40 + b"}", [], False),  # 40 levels deep
        (good[3].key(), good[3].to_bytes(), [("", b"")], True),
        (b"\xff", good[4].to_bytes(), [("h", b"\x00" * 1000)], True),  # a key that is not the subject
        (good[5].key(), good[5].to_bytes(), [], True),
    ]
    async with TopicWatcher(infrastructure.kafka, MessageDeadLettered.topic) as dead_letter_topic:
        landed = await send_raw(infrastructure.kafka, records)
        probes.start()
        ends = {s.partition: s.offset + 1 for s in landed}  # the last offset we sent, per partition

        async def at_the_end() -> bool:
            done = await committed(infrastructure.kafka, probes.group)
            return all(done.get(partition, -1) >= end for partition, end in ends.items())

        await eventually(at_the_end, timeout=60)
        bad = sum(not s.good for s in landed)
        mine = lambda rs: [r for r in rs if getattr(decode(r.value), "consumer", None) == probes.group]
        # (a running development service consumes the same records and announces its own dead letters)
        published = mine(await dead_letter_topic.collect(lambda rs: len(mine(rs)) >= bad, timeout=30))
        await eventually(lambda: schema.count("SELECT count(*) = 0 FROM outbox"))

    effects = {r["enrollment_id"] for r in await schema.pool.fetch("SELECT enrollment_id FROM probe_effects")}
    assert effects == {e.enrollment_id for e in good if e is not good[2]}
    letters = await schema.pool.fetch('SELECT "partition", "offset", value, error FROM dead_letters')
    assert sorted((r["partition"], r["offset"]) for r in letters) == sorted(
        (s.partition.partition, s.offset) for s in landed if not s.good
    )
    assert len(effects) + len(letters) == len(records)  # every record accounted for
    errors = " | ".join(r["error"] for r in letters)
    for reason in ("UnicodeDecodeError", "not JSON", "integer of", "RecursionError", "nested deeper"):
        assert reason in errors, reason
    [near_limit] = [r for r in letters if r["value"] == big]  # the full bytes stay in the database
    notices = [decode(r.value) for r in published]
    sizes = [len(r.value) for r in published]
    assert max(sizes) < 16_000  # bounded, whatever the size of the refused value
    [big_notice] = [n for n in notices if isinstance(n, MessageDeadLettered) and n.raw_size == len(big)]
    assert big_notice.raw_truncated and len(big_notice.raw_sha256 or "") == 64
    assert near_limit["error"]
    # a listing shows each key's first 200 bytes (a page of 100 KB keys held hundreds of MiB); the table keeps it all
    async with schema.pool.acquire() as conn:
        listed = await list_dead_letters(conn, limit=1000)
    assert len(listed) == len(letters)
    assert max(len((d.key or "").encode()) for d in listed) <= 3 * LISTED_KEY_BYTES  # U+FFFD for each bad byte
    assert await schema.count("SELECT max(octet_length(key)) FROM dead_letters") == 100_000


async def test_a_row_the_broker_refuses_is_parked_and_the_relay_goes_on(
    infrastructure: Infrastructure, schema: Schema
) -> None:
    await migrate(schema.pool, schema.name, {"runtime": RUNTIME_MIGRATIONS})
    before, after = enrolment(), enrolment()
    publisher = KafkaPublisher(infrastructure.kafka)
    await publisher.start()
    health = Health()
    relay = Relay(schema.pool, schema.name, publisher, health, poll_seconds=0.1, max_attempts=3)
    async with TopicWatcher(infrastructure.kafka, TOPIC) as topic:
        async with schema.pool.acquire() as conn, conn.transaction():
            await emit(conn, [before])
            await emit_raw(conn, uuid.uuid4(), TOPIC, b"k", b"x" * 1_500_000)  # over the producer's limit
            await emit_raw(conn, uuid.uuid4(), "not a topic!", b"k", b"{}")  # not a legal topic name
            await emit(conn, [after])
        running = asyncio.create_task(relay.run())
        try:
            records = await topic.collect(
                lambda rs: (
                    {str(before.event_id), str(after.event_id)}
                    <= {json.loads(r.value).get("event_id") for r in rs if r.value and len(r.value) < 10_000}
                )
            )
            await eventually(lambda: schema.count("SELECT count(*) = 2 FROM outbox WHERE parked_at IS NOT NULL"))
            async with schema.pool.acquire() as conn:
                parked = await list_parked(conn)
                assert await retry_parked(conn, parked[0].id)  # the operator retries one: it parks again
                assert not await retry_parked(conn, 10**12)
            await eventually(lambda: schema.count("SELECT count(*) = 2 FROM outbox WHERE parked_at IS NOT NULL"))
            again = await schema.pool.fetchval("SELECT attempts FROM outbox WHERE id = $1", parked[0].id)
        finally:
            relay.stop()
            await running
            await publisher.stop()

    assert not running.exception() and health.parts["outbox-relay"][0]
    assert [p.attempts for p in parked] == [3, 3] and again == 3
    assert "MessageSizeTooLargeError" in (parked[0].last_error or "")
    assert "not a legal Kafka topic name" in (parked[1].last_error or "")
    assert {json.loads(r.value)["event_id"] for r in records if len(r.value) < 10_000} >= {
        str(before.event_id),
        str(after.event_id),
    }
    assert await schema.count("SELECT count(*) FROM outbox WHERE parked_at IS NULL") == 0


async def test_readiness_turns_red_within_seconds_when_a_consumer_task_dies(
    infrastructure: Infrastructure, schema: Schema
) -> None:
    settings = Settings(
        database_url=infrastructure.database_url,
        migrate_on_start=True,  # a throw-away schema, migrated by the admin it runs as
        db_schema=schema.name,
        kafka_bootstrap_servers=infrastructure.kafka,
        consumer_group=f"funding-{schema.name}",
        finance_api_key="finance-test-key",
        relay_poll_seconds=0.2,
        retry_max_seconds=2,
    )  # type: ignore[call-arg]
    app = build_app(settings)
    await group_starts_at_end(infrastructure.kafka, settings.consumer_group or "", *FUNDING_INPUTS)
    async with serving(app) as api:

        async def ready() -> bool:
            return (await api.get("/health/ready")).status_code == 200

        await eventually(ready, timeout=30)
        await eventually(lambda: _caught_up(api), timeout=30)
        report = (await api.get("/health/ready")).json()
        [consumer] = report["consumers"].values()
        live_before = (await api.get("/health/live")).status_code
        metrics = (await api.get("/metrics")).text
        task = app.state.runtime.tasks[f"consumer:funding-{schema.name}"]
        task.cancel()  # the consumer dies
        await asyncio.sleep(0.5)
        dead = await api.get("/health/ready")
        live_after = (await api.get("/health/live")).status_code

    assert consumer["task_alive"] and consumer["partitions_assigned"] > 0 and consumer["lag"] == 0
    assert report["relay"]["task_alive"] and report["relay"]["parked"] == 0
    assert dead.status_code == 503 and any("task is not running" in p for p in dead.json()["problems"])
    assert live_before == live_after == 200
    assert 'plan_ready{service="funding"} 1.0' in metrics and 'plan_outbox_parked{service="funding"} 0.0' in metrics
    assert f'plan_consumer_lag{{consumer="consumer:funding-{schema.name}",service="funding"}} 0.0' in metrics


async def _caught_up(api: httpx.AsyncClient) -> bool:
    report = (await api.get("/health/ready")).json()
    return all(c["lag"] == 0 for c in report["consumers"].values())
