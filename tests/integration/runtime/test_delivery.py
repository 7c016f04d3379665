"""The delivery guarantees of the shared runtime, proven on a real process, broker and database.

Each test injects one fault: a killed relay, a killed consumer, a redelivery, a poison
message, out-of-order commits, a restarted broker.
"""

import asyncio
import json
import uuid

import asyncpg

from plan_events import MessageDeadLettered, TraineeEnrolled, decode
from plan_runtime import RUNTIME_MIGRATIONS, Health, KafkaPublisher, Relay, emit, migrate
from plan_runtime.dead_letters import replay
from plan_runtime.outbox import emit_raw
from tests.infrastructure import Infrastructure
from tests.integration.conftest import Probes, Schema, wait_exit
from tests.support.kafka import Landed, TopicWatcher, committed, eventually, group_starts_at_end, produce
from tests.support.plan import enrolment
from tests.support.probe import MIGRATIONS as PROBE_MIGRATIONS

TOPIC = TraineeEnrolled.topic


async def prepare(schema: Schema, infra: Infrastructure, probes: Probes) -> None:
    await migrate(schema.pool, schema.name, {"runtime": RUNTIME_MIGRATIONS, "probe": PROBE_MIGRATIONS})
    await group_starts_at_end(infra.kafka, probes.group, TOPIC)


def copies(records: list, event_id: uuid.UUID) -> int:  # type: ignore[type-arg]
    return sum(1 for r in records if json.loads(r.value)["event_id"] == str(event_id))


class Recording:
    """A publisher that keeps what it was handed; `gated` ones wait for `release` first (a broker slow to ack)."""

    def __init__(self, gated: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.entered, self.release = asyncio.Event(), asyncio.Event()
        if not gated:
            self.release.set()

    async def publish(self, messages: list[tuple[str, bytes | None, bytes]]) -> None:
        self.entered.set()
        await self.release.wait()
        self.sent += messages


async def test_one_relay_of_a_schema_claims_at_a_time_and_each_row_moves_to_the_archive_once(schema: Schema) -> None:
    """Two relays on one outbox (two workers of a service): while one holds a batch at the broker, the other's
    claim takes nothing, though rows wait beyond that batch; it gets them once the first committed. Every event
    leaves once, in the order appended, and ends in outbox_published."""
    await migrate(schema.pool, schema.name, {"runtime": RUNTIME_MIGRATIONS})
    events = [enrolment() for _ in range(30)]
    async with schema.pool.acquire() as conn, conn.transaction():
        await emit(conn, events)
    slow, other = Recording(gated=True), Recording()
    first = Relay(schema.pool, schema.name, slow, Health(), batch_size=10)
    second = Relay(schema.pool, schema.name, other, Health(), batch_size=10)
    holding = asyncio.create_task(first.relay_once())
    try:
        await asyncio.wait_for(slow.entered.wait(), 5)
        assert await second.relay_once() == 0
        assert await schema.count("SELECT count(*) FROM outbox") == 30  # nothing has moved before the ack
    finally:
        slow.release.set()  # the first's transaction ends either way (the schema is dropped after the test)
        claimed = await holding
    assert claimed == 10
    assert await second.drain() == 20
    sent = [json.loads(value)["event_id"] for _, _, value in slow.sent + other.sent]
    assert sent == [str(e.event_id) for e in events]
    assert await schema.count("SELECT count(*) FROM outbox") == 0
    archived = await schema.pool.fetch("SELECT event_id, published_at IS NOT NULL AS stamped FROM outbox_published")
    assert sorted(str(r["event_id"]) for r in archived) == sorted(sent) and all(r["stamped"] for r in archived)


async def test_an_event_committed_before_the_relay_was_killed_is_published_once_after_restart(
    infrastructure: Infrastructure, schema: Schema, probes: Probes
) -> None:
    await prepare(schema, infrastructure, probes)
    event = enrolment()
    async with TopicWatcher(infrastructure.kafka, TOPIC) as topic:
        async with schema.pool.acquire() as conn, conn.transaction():
            await emit(conn, [event])  # the business transaction commits with its event

        killed = probes.start(fault="relay.after_claim")
        assert await wait_exit(killed) == -9
        assert await schema.count("SELECT count(*) FROM outbox") == 1

        probes.start()
        records = await topic.collect(lambda rs: copies(rs, event.event_id) >= 1)
        records += await topic.collect(lambda rs: False, timeout=3)  # any second copy would show now

    assert copies(records, event.event_id) == 1
    assert await schema.count("SELECT count(*) FROM outbox") == 0
    assert await schema.count("SELECT count(*) FROM outbox_published") == 1


async def test_a_relay_killed_after_publishing_publishes_again_but_the_inbox_applies_once(
    infrastructure: Infrastructure, schema: Schema, probes: Probes
) -> None:
    await prepare(schema, infrastructure, probes)
    event = enrolment()
    async with TopicWatcher(infrastructure.kafka, TOPIC) as topic:
        async with schema.pool.acquire() as conn, conn.transaction():
            await emit(conn, [event])
        assert await wait_exit(probes.start(fault="relay.after_publish")) == -9
        probes.start()
        records = await topic.collect(lambda rs: copies(rs, event.event_id) >= 2)

    assert copies(records, event.event_id) == 2  # at-least-once on the wire ...
    await eventually(lambda: schema.count("SELECT count(*) FROM inbox WHERE event_id = $1", event.event_id))
    await asyncio.sleep(2)
    # ... exactly once in effect
    assert await schema.count("SELECT count(*) FROM probe_calls WHERE event_id = $1", event.event_id) == 1


async def test_a_redelivered_event_and_a_new_event_for_the_same_enrolment_take_effect_once(
    infrastructure: Infrastructure, schema: Schema, probes: Probes
) -> None:
    await prepare(schema, infrastructure, probes)
    first = enrolment()
    again_same_key = enrolment(first.trainee_id, enrollment_id=first.enrollment_id)  # new event_id, same natural key
    landed = await produce(
        infrastructure.kafka,
        TOPIC,
        [
            (first.key(), first.to_bytes()),
            (first.key(), first.to_bytes()),  # Kafka redelivers: same event_id
            (again_same_key.key(), again_same_key.to_bytes()),
        ],
    )
    probes.start()
    await eventually(lambda: group_passed(infrastructure, probes.group, landed[-1]))

    calls = await schema.pool.fetch("SELECT event_id FROM probe_calls")
    assert sorted(str(r["event_id"]) for r in calls) == sorted(
        [str(first.event_id), str(again_same_key.event_id)]
    )  # the inbox stopped the redelivery
    effects = await schema.pool.fetch(
        "SELECT event_id FROM probe_effects WHERE enrollment_id = $1", first.enrollment_id
    )
    assert [r["event_id"] for r in effects] == [first.event_id]  # the natural key stopped the second


def ours(records: list, key: bytes | None, consumer: str) -> list[MessageDeadLettered]:  # type: ignore[type-arg]
    """The dead-letter notices of this test's consumer about this key: any other consumer of the topic (a running
    development service) dead-letters the same poison and announces it on the same topic."""
    notices = [decode(r.value) for r in records if r.key == key]
    return [n for n in notices if isinstance(n, MessageDeadLettered) and n.consumer == consumer]


async def group_passed(infra: Infrastructure, group: str, message: Landed) -> bool:
    """True once the group committed past the message on its partition."""
    return (await committed(infra.kafka, group)).get(message.partition, -1) > message.offset


async def test_poison_messages_become_dead_letters_and_the_partition_keeps_flowing(
    infrastructure: Infrastructure, schema: Schema, probes: Probes
) -> None:
    await prepare(schema, infrastructure, probes)
    good_before, good_after = enrolment(), enrolment()
    refused = enrolment(niche="refuse")
    unknown_version = {**json.loads(enrolment().to_bytes()), "version": 99}
    broken = {**json.loads(enrolment().to_bytes())}
    del broken["tier"]
    key = good_before.key()
    poison = [
        b"\xff\xfe not json",
        json.dumps(unknown_version).encode(),
        json.dumps(broken).encode(),
        refused.to_bytes(),
    ]
    async with TopicWatcher(infrastructure.kafka, MessageDeadLettered.topic) as dead_letter_topic:
        landed = await produce(
            infrastructure.kafka,
            TOPIC,
            [(key, good_before.to_bytes()), *[(key, p) for p in poison], (key, good_after.to_bytes())],
        )
        probes.start()
        await eventually(lambda: group_passed(infrastructure, probes.group, landed[-1]))
        published = await dead_letter_topic.collect(lambda rs: len(ours(rs, key, probes.group)) >= len(poison))

    effects = {r["enrollment_id"] for r in await schema.pool.fetch("SELECT * FROM probe_effects")}
    assert effects == {good_before.enrollment_id, good_after.enrollment_id}
    letters = await schema.pool.fetch('SELECT "offset", error, value FROM dead_letters ORDER BY "offset"')
    assert [r["offset"] for r in letters] == [m.offset for m in landed[1:-1]]
    assert [r["value"] for r in letters] == poison  # the raw bytes, kept as they came
    reasons = [r["error"] for r in letters]
    assert reasons[0].startswith("not JSON")
    assert "unknown event type/version: 'trainee-enrolled' v99" in reasons[1]
    assert "tier: Field required" in reasons[2]
    assert reasons[3] == "the probe refuses the niche 'refuse'"
    notices = ours(published, key, probes.group)
    assert sorted(n.original_offset for n in notices if isinstance(n, MessageDeadLettered)) == [
        m.offset for m in landed[1:-1]
    ]


async def test_outbox_rows_committed_in_the_opposite_order_of_their_ids_are_all_published(
    infrastructure: Infrastructure, schema: Schema
) -> None:
    await migrate(schema.pool, schema.name, {"runtime": RUNTIME_MIGRATIONS})
    early_id_late_commit, late_id_early_commit = enrolment(), enrolment()
    publisher = KafkaPublisher(infrastructure.kafka)
    await publisher.start()
    relay = Relay(schema.pool, schema.name, publisher, Health(), poll_seconds=0.1)
    async with TopicWatcher(infrastructure.kafka, TOPIC) as topic:
        slow: asyncpg.Connection = await schema.pool.acquire()
        slow_tx = slow.transaction()
        await slow_tx.start()
        await emit(slow, [early_id_late_commit])  # takes the lower outbox id, commits last
        async with schema.pool.acquire() as fast, fast.transaction():
            await emit(fast, [late_id_early_commit])
        running = asyncio.create_task(relay.run())
        try:
            first = await topic.collect(lambda rs: copies(rs, late_id_early_commit.event_id) == 1)
            await slow_tx.commit()
            await schema.pool.release(slow)
            rest = await topic.collect(lambda rs: copies(rs, early_id_late_commit.event_id) == 1)
        finally:
            # a graceful stop: the batch in hand is moved to the archive before `run` returns. A cancel could land
            # between the broker's acknowledgement (the watcher has already read the row) and the move's commit,
            # leaving the row in the outbox, to be sent again by the next relay: at least once, but not what
            # this test counts (it failed once so in a long run)
            relay.stop()
            await asyncio.wait_for(running, 15)
            await publisher.stop()
    assert await schema.count("SELECT count(*) FROM outbox") == 0
    ids = await schema.pool.fetch("SELECT event_id FROM outbox_published ORDER BY id")
    assert [r["event_id"] for r in ids] == [early_id_late_commit.event_id, late_id_early_commit.event_id]
    assert copies(first, late_id_early_commit.event_id) == 1
    assert copies(rest, early_id_late_commit.event_id) == 1


async def _published_after_a_late_commit(
    infrastructure: Infrastructure, schema: Schema, poll_seconds: float, announced: bool
) -> None:
    """A row takes a lower id and commits after a later row was published, so the relay's claim floor is above it:
    it is still published, once, within 10 s of its commit."""
    await migrate(schema.pool, schema.name, {"runtime": RUNTIME_MIGRATIONS})
    late, early = enrolment(), enrolment()
    publisher = KafkaPublisher(infrastructure.kafka)
    await publisher.start()
    relay = Relay(schema.pool, schema.name, publisher, Health(), poll_seconds=poll_seconds)
    async with TopicWatcher(infrastructure.kafka, TOPIC) as topic:
        slow: asyncpg.Connection = await schema.pool.acquire()
        slow_tx = slow.transaction()
        await slow_tx.start()
        if announced:
            await emit(slow, [late])
        else:  # as a dead-letter replay appends: no NOTIFY
            await emit_raw(slow, late.event_id, late.topic, late.key(), late.to_bytes())
        running = asyncio.create_task(relay.run())
        try:
            await asyncio.sleep(0.3)  # the relay's first pass, from the first row, finds nothing committed
            async with schema.pool.acquire() as fast, fast.transaction():
                await emit(fast, [early])
            first = await topic.collect(lambda rs: copies(rs, early.event_id) == 1)
            await slow_tx.commit()
            await schema.pool.release(slow)
            rest = await topic.collect(lambda rs: copies(rs, late.event_id) == 1, timeout=10)
        finally:
            relay.stop()
            await asyncio.wait_for(running, 15)
            await publisher.stop()
    assert copies(first, early.event_id) == 1 and copies(first, late.event_id) == 0
    assert copies(rest, late.event_id) == 1 and copies(rest, early.event_id) == 0
    assert await schema.count("SELECT count(*) FROM outbox") == 0
    rows = await schema.pool.fetch("SELECT event_id FROM outbox_published ORDER BY id")
    assert [r["event_id"] for r in rows] == [late.event_id, early.event_id]


async def test_a_late_commit_below_the_relays_floor_is_published_at_once_by_its_announcement(
    infrastructure: Infrastructure, schema: Schema
) -> None:
    # a poll interval longer than the test: only the id its NOTIFY announces brings the relay back below its floor
    await _published_after_a_late_commit(infrastructure, schema, poll_seconds=60, announced=True)


async def test_a_late_commit_below_the_floor_that_announced_nothing_is_found_from_the_first_row_within_a_poll(
    infrastructure: Infrastructure, schema: Schema
) -> None:
    await _published_after_a_late_commit(infrastructure, schema, poll_seconds=1.0, announced=False)


async def test_no_event_is_lost_when_the_broker_restarts_while_events_are_produced(
    infrastructure: Infrastructure, schema: Schema, probes: Probes
) -> None:
    await prepare(schema, infrastructure, probes)
    events = [enrolment(f"trainee-{n}") for n in range(30)]
    probes.start()

    async def commit(batch: list[TraineeEnrolled]) -> None:
        for event in batch:
            async with schema.pool.acquire() as conn, conn.transaction():
                await emit(conn, [event])

    async with TopicWatcher(infrastructure.kafka, TOPIC) as topic:
        await commit(events[:10])
        await asyncio.to_thread(infrastructure.broker.stop)
        await commit(events[10:20])  # committed while the broker is down
        await asyncio.to_thread(infrastructure.broker.start)
        await commit(events[20:])
        wanted = {str(e.event_id) for e in events}
        records = await topic.collect(lambda rs: wanted <= {json.loads(r.value)["event_id"] for r in rs}, timeout=90)

    assert wanted <= {json.loads(r.value)["event_id"] for r in records}
    await eventually(lambda: schema.count("SELECT count(*) = 30 FROM probe_effects"), timeout=90)


async def test_a_service_started_while_the_broker_restarts_publishes_everything_once_it_is_back(
    infrastructure: Infrastructure, schema: Schema, probes: Probes
) -> None:
    """The cause of the old flaky broker-restart test: a producer that met the broker while it was starting
    kept an empty broker list for ever and published nothing. The relay now starts a new producer session."""
    await prepare(schema, infrastructure, probes)
    events = [enrolment(f"late-{n}") for n in range(10)]

    async def commit(batch: list[TraineeEnrolled]) -> None:
        async with schema.pool.acquire() as conn, conn.transaction():
            await emit(conn, batch)

    async with TopicWatcher(infrastructure.kafka, TOPIC) as topic:
        await commit(events[:5])
        await asyncio.to_thread(infrastructure.broker.stop)
        probes.start()  # boots while the broker is away and meets it while it starts
        await asyncio.sleep(1)
        await asyncio.to_thread(infrastructure.broker.start)
        await commit(events[5:])
        wanted = {str(e.event_id) for e in events}
        records = await topic.collect(lambda rs: wanted <= {json.loads(r.value)["event_id"] for r in rs}, timeout=90)

    assert wanted <= {json.loads(r.value)["event_id"] for r in records}
    await eventually(lambda: schema.count("SELECT count(*) = 10 FROM probe_effects"), timeout=90)


async def test_a_consumer_killed_after_its_commit_and_before_its_offset_commit_applies_nothing_twice(
    infrastructure: Infrastructure, schema: Schema, probes: Probes
) -> None:
    await prepare(schema, infrastructure, probes)
    event = enrolment()
    [message] = await produce(infrastructure.kafka, TOPIC, [(event.key(), event.to_bytes())])

    assert await wait_exit(probes.start(fault="consumer.after_commit")) == -9
    assert await schema.count("SELECT count(*) FROM probe_calls WHERE event_id = $1", event.event_id) == 1
    assert not await group_passed(infrastructure, probes.group, message)  # the offset was not committed

    probes.start()  # reads the same record again
    await eventually(lambda: group_passed(infrastructure, probes.group, message))
    assert await schema.count("SELECT count(*) FROM probe_calls WHERE event_id = $1", event.event_id) == 1
    assert await schema.count("SELECT count(*) FROM probe_effects") == 1


async def test_a_dead_letter_replayed_after_its_cause_is_fixed_is_applied_once(
    infrastructure: Infrastructure, schema: Schema, probes: Probes
) -> None:
    await prepare(schema, infrastructure, probes)
    refused = enrolment(niche="refuse")
    await produce(infrastructure.kafka, TOPIC, [(refused.key(), refused.to_bytes())])
    probes.start()
    await eventually(lambda: schema.count("SELECT count(*) FROM dead_letters"))
    [letter] = await schema.pool.fetch("SELECT id FROM dead_letters")

    await schema.pool.execute("INSERT INTO probe_fixed VALUES (true)")  # the operator fixes the cause
    async with schema.pool.acquire() as conn:
        assert await replay(conn, letter["id"])
        assert not await replay(conn, letter["id"])  # a dead letter is replayed once
    await eventually(
        lambda: schema.count("SELECT count(*) FROM probe_effects WHERE enrollment_id = $1", refused.enrollment_id)
    )
    await asyncio.sleep(2)
    assert await schema.count("SELECT count(*) FROM probe_effects") == 1
    assert [r["replayed_at"] is not None for r in await schema.pool.fetch("SELECT replayed_at FROM dead_letters")] == [
        True
    ]
