"""The inbox hands a `Many` handler runs of consecutive new events, on the real PostgreSQL.

A run is applied in record order, between the events of other handlers; a duplicate is left out of it; and when
one event of a run is refused, the batch is redone one event at a time in savepoints: only that event becomes a
dead letter, every other one of the batch is applied once.
"""

import uuid
from dataclasses import dataclass

from plan_events import Event, Tier, TierCompleted, TraineeEnrolled
from plan_runtime import RUNTIME_MIGRATIONS, migrate
from plan_runtime.consumer import Inbox, Many, Only
from plan_runtime.errors import Refused
from plan_runtime.unit import Unit
from tests.integration.conftest import Schema
from tests.support.plan import completion, enrolment

APPLIED = "CREATE TABLE applied (position serial, event_id uuid NOT NULL, run integer NOT NULL)"


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def records(events: list[Event]) -> list[FakeRecord]:
    return [FakeRecord(e.topic, 0, offset, e.key(), e.to_bytes()) for offset, e in enumerate(events)]


class Handlers:
    """Writes each applied event with the size of the call that applied it; refuses an enrolment whose niche says so."""

    def __init__(self) -> None:
        self.calls: list[list[uuid.UUID]] = []

    async def enrolled(self, unit: Unit, events: list[TraineeEnrolled]) -> None:
        self.calls.append([e.event_id for e in events])
        for event in events:
            if event.niche == "refuse me":
                raise Refused("this enrolment is refused")
        await unit.conn.execute(
            "INSERT INTO applied (event_id, run) SELECT unnest($1::uuid[]), $2",
            [e.event_id for e in events],
            len(events),
        )

    async def completed(self, unit: Unit, event: TierCompleted) -> None:
        self.calls.append([event.event_id])
        await unit.conn.execute("INSERT INTO applied (event_id, run) VALUES ($1, 0)", event.event_id)


async def _inbox(schema: Schema) -> tuple[Inbox, Handlers]:
    await migrate(schema.pool, schema.name, {"runtime": RUNTIME_MIGRATIONS})
    await schema.pool.execute(APPLIED)
    handlers = Handlers()
    inbox = Inbox(
        "runs", "test", schema.pool, {TraineeEnrolled: Many(handlers.enrolled), TierCompleted: handlers.completed}
    )
    return inbox, handlers


async def test_consecutive_events_of_a_many_handler_come_as_one_run_in_record_order(schema: Schema) -> None:
    inbox, handlers = await _inbox(schema)
    first = [enrolment() for _ in range(3)]
    done = completion(first[0])
    later = [enrolment() for _ in range(2)]
    events: list[Event] = [*first, done, *later, first[1]]  # the last one again: a duplicate in the batch
    outcome = await inbox.process(records(events))

    assert (outcome.applied, outcome.duplicates, outcome.dead_letters) == (6, 1, [])
    assert handlers.calls == [[e.event_id for e in first], [done.event_id], [e.event_id for e in later]]
    rows = await schema.pool.fetch("SELECT event_id, run FROM applied ORDER BY position")
    assert [(r["event_id"], r["run"]) for r in rows] == [
        *((e.event_id, 3) for e in first),
        (done.event_id, 0),
        *((e.event_id, 2) for e in later),
    ]

    again = await inbox.process(records(events))  # the whole batch redelivered: nothing applied twice
    assert (again.applied, again.duplicates) == (0, 7)
    assert await schema.count("SELECT count(*) FROM applied") == 6


async def test_a_refused_event_in_a_run_is_parked_alone_and_the_rest_of_the_batch_is_applied_once(
    schema: Schema,
) -> None:
    inbox, handlers = await _inbox(schema)
    refused = enrolment(niche="refuse me")
    events: list[Event] = [enrolment(), refused, enrolment(), enrolment()]
    outcome = await inbox.process(records(events))

    assert outcome.applied == 3
    assert outcome.dead_letters == ["this enrolment is refused"]
    # the fast path failed on its one run, then each event was applied alone in a savepoint
    assert handlers.calls[0] == [e.event_id for e in events]
    assert handlers.calls[1:] == [[e.event_id] for e in events]
    applied = await schema.pool.fetch("SELECT event_id, run FROM applied ORDER BY position")
    assert [r["event_id"] for r in applied] == [e.event_id for e in events if e is not refused]
    assert {r["run"] for r in applied} == {1}
    parked = await schema.pool.fetch("SELECT event_id, error FROM dead_letters")
    assert [(r["event_id"], r["error"]) for r in parked] == [(refused.event_id, "this enrolment is refused")]


async def test_events_a_consumer_has_no_business_with_leave_no_inbox_row_and_reach_no_handler(schema: Schema) -> None:
    """`Only`: an event its predicate leaves out is decoded and checked like any record (a broken one is still a
    dead letter), then counted as ignored, with no inbox row and no call; a run of the others around it is one
    run, in record order; redelivered, each is ignored or a duplicate again, nothing applied twice."""
    await migrate(schema.pool, schema.name, {"runtime": RUNTIME_MIGRATIONS})
    await schema.pool.execute(APPLIED)
    handlers = Handlers()
    paid = Only(lambda e: e.tier is not Tier.BASIC, Many(handlers.enrolled))
    inbox = Inbox("only", "test", schema.pool, {TraineeEnrolled: paid, TierCompleted: handlers.completed})
    senior, basic = enrolment(tier=Tier.SENIOR), enrolment(tier=Tier.BASIC)
    events: list[Event] = [senior, basic, enrolment(tier=Tier.BASIC), enrolment(), completion(basic)]
    sent = records(events)
    broken = FakeRecord(TraineeEnrolled.topic, 0, len(sent), None, basic.to_bytes().replace(b'"basic"', b'"base"'))
    outcome = await inbox.process([*sent, broken])

    assert (outcome.applied, outcome.duplicates, outcome.ignored) == (3, 0, 2)
    assert [d.split(":")[0] for d in outcome.dead_letters] == ["invalid trainee-enrolled v1"]
    kept = [senior.event_id, events[3].event_id]
    assert handlers.calls == [kept, [events[4].event_id]]  # the paid enrolments around the basic ones: one run
    assert [r["event_id"] for r in await schema.pool.fetch("SELECT event_id FROM applied ORDER BY position")] == [
        *kept,
        events[4].event_id,
    ]
    assert {r["event_id"] for r in await schema.pool.fetch("SELECT event_id FROM inbox")} == {
        *kept,
        events[4].event_id,
    }
    again = await inbox.process([*sent, broken])
    assert (again.applied, again.duplicates, again.ignored, again.dead_letters) == (0, 3, 2, [])
    assert await schema.count("SELECT count(*) FROM applied") == 3
