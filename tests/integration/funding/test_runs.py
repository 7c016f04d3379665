"""A run of claims decided together leaves what deciding them one by one leaves, on the real PostgreSQL.

Funding's inbox hands enrolments and completions to their use cases in runs (funding.handlers.consumes: `Many`),
and the store reads a run's ledger once and writes its decisions once (FundingStore.deciding, funding.run). The
reference is the store's one-claim-at-a-time SQL: the per-event use cases, each event in a transaction of its own.

Hypothesis draws a sequence of events over a small world, so that they collide: a few enrolment ids, people and
institutions, drawn independently (the same enrolment claimed again by another person or institution, the same
person in two enrolments), every tier, passed and failed completions inside and outside the plan's period, with and
without the institution's status (any sequence number), suspensions and reinstatements, withdrawals, the same event
twice and the same completion under a new event id. The policy is drawn too: a fund of a few subsidies (so it runs
out), with or without an institution cap and a year's envelope. The same records go to two fresh schemas: as ONE
batch through funding's inbox (which leaves the events of unpaid tiers out: `Only`), and one record per batch
through an inbox of the per-event use cases (which are handed enrolments and completions of every tier). Then every
table must be the same (ids and clocks aside), and so must the events in the outbox, each approval naming its own
subsidy row.
"""

import asyncio
import json
import os
import uuid
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from funding import handlers
from funding.domain import Claim, InstitutionStatus
from funding.policy import Policy, load_policy
from funding.store import FundingStore, ensure_fund
from plan_events import (
    Event,
    InstitutionReinstated,
    InstitutionSuspended,
    TierCompleted,
    TraineeEnrolled,
)
from plan_events import Tier as T
from plan_runtime import RUNTIME_MIGRATIONS, Inbox, migrate
from plan_runtime.consumer import Many, Only
from tests.infrastructure import Infrastructure
from tests.integration.conftest import Schema
from tests.support.kafka import Record
from tests.support.plan import completion, enrolment, withdrawal

FUNDING_MIGRATIONS = Path(handlers.__file__).parent / "migrations"
EXAMPLES = int(os.environ.get("RUN_EXAMPLES", "60"))
SHRINK = os.environ.get("RUN_SHRINK", "") not in ("", "0")
ENROLMENTS = [uuid.UUID(int=n) for n in range(1, 9)]
PEOPLE = ["ma-li", "zhou-fang", "wu-qiang"]
INSTITUTIONS = [uuid.UUID(int=0xA0), uuid.UUID(int=0xB1)]
REASONS = ("assessment_failed", "outside_plan_period", "duplicate_claim", "fund_exhausted", "institution_cap_reached")
TABLES = "subsidies, ledger, institutions, payment_batches, inbox, outbox, dead_letters"


def policy_of(capped: bool, envelope: bool) -> Policy:
    """A fund of one professional subsidy and one senior one (so it runs out); optionally a cap per institution
    that a senior and a professional subsidy together exceed, and a 2020 envelope of one senior subsidy."""
    base = load_policy()
    return Policy.model_validate(
        {
            **base.model_dump(),
            "version": "runs-test",
            "fund_yuan": 900 + 5_000,
            "targets": {T.PROFESSIONAL: 1, T.SENIOR: 1},
            "institution_caps_yuan": {"default": 5_000} if capped else {},
            "year_envelopes_yuan": {2020: 5_000} if envelope else {},
        }
    )


@dataclass(frozen=True)
class Step:
    kind: str
    slot: int
    person: int
    institution: int
    tier: T
    passed: bool
    days: int  # completion: days after the enrolment's start (the plan ends on 2021-12-31)
    status: str | None  # completion: the institution's status it carries (None: none)
    seq: int


KINDS = st.sampled_from(["enrol", "enrol", "complete", "complete", "complete", "withdraw", "suspend", "reinstate"])
STEPS = st.builds(
    Step,
    kind=st.just("enrol"),  # each block gives its own
    slot=st.integers(0, len(ENROLMENTS) - 1),
    person=st.integers(0, len(PEOPLE) - 1),
    institution=st.integers(0, len(INSTITUTIONS) - 1),
    tier=st.sampled_from([T.PROFESSIONAL, T.PROFESSIONAL, T.SENIOR, T.BASIC]),
    passed=st.sampled_from([True, True, True, False]),
    days=st.sampled_from([15, 15, 15, 200, 600]),  # 2020-08-23, 2021-02-24, 2022-03-31 (outside the plan)
    status=st.sampled_from([None, None, "active", "suspended"]),
    seq=st.integers(0, 3),  # a completion carries 0-3, a status event 1-4
)


def event_of(step: Step) -> Event:
    institution = INSTITUTIONS[step.institution]
    enrolled = enrolment(PEOPLE[step.person], step.tier, institution, ENROLMENTS[step.slot])
    if step.kind == "enrol":
        return enrolled
    if step.kind == "complete":
        done = completion(enrolled, step.passed, step.days)
        if step.status is None:
            return done
        return done.model_copy(update={"institution_status": step.status, "institution_status_seq": step.seq})
    if step.kind == "withdraw":
        return withdrawal(enrolled)
    status_event = InstitutionSuspended if step.kind == "suspend" else InstitutionReinstated
    return status_event.create(
        source="enrollment",
        subject=str(institution),
        occurred_at=enrolled.occurred_at,
        institution_id=institution,
        status_seq=step.seq + 1,
        reason=f"{step.kind} {step.seq}",
    )


@st.composite
def sequences(draw: st.DrawFn) -> list[Event]:
    """Blocks of steps of one kind (a run, as a busy topic gives them), each step perhaps delivered again."""
    events: list[Event] = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(KINDS)
        for step in draw(st.lists(STEPS, min_size=1, max_size=8)):
            event = event_of(replace(step, kind=kind))
            events.append(event)
            again = draw(st.sampled_from(["no", "no", "no", "same event", "new event id"]))
            if again == "same event":
                events.append(event)
            elif again == "new event id":
                events.append(event.model_copy(update={"event_id": uuid.uuid4()}))
    return events


def run(*steps: tuple[str, int, int, int, T, dict[str, Any]]) -> list[Event]:
    """An explicit sequence: (kind, enrolment slot, person, institution, tier, anything else of the Step), after
    both institutions are known to funding as active (a completions run decides in memory only the claims of
    institutions it could lock: those with a row)."""
    defaults = {"passed": True, "days": 15, "status": None, "seq": 0}
    known = [("reinstate", 0, 0, where, P, {}) for where in range(len(INSTITUTIONS))]
    return [
        event_of(Step(kind, slot, who, where, tier, **{**defaults, **more}))
        for kind, slot, who, where, tier, more in [*known, *steps]
    ]


P, S, B = T.PROFESSIONAL, T.SENIOR, T.BASIC
# Runs that reach every decision within ONE run, whatever the draws do (compared first, every time):
EVERY_DECISION = run(  # capped or not
    ("enrol", 7, 2, 0, P, {}),  # 900 set aside: the fund has 5,000 left
    ("complete", 0, 0, 0, S, {}),  # approved: 5,000; the fund is out but for the reservation
    ("complete", 1, 1, 1, P, {}),  # exhausted
    ("complete", 2, 2, 1, P, {"status": "suspended", "seq": 2}),  # held, passed
    ("complete", 2, 2, 1, P, {"status": "active", "seq": 3}),  # the same claim, its institution active again
    ("complete", 3, 0, 1, S, {}),  # the same person's senior subsidy again: a duplicate
    ("complete", 4, 1, 0, P, {"passed": False}),
    ("complete", 5, 1, 0, S, {"days": 600}),  # outside the plan
    ("complete", 6, 0, 0, B, {}),  # basic: nothing
    ("withdraw", 7, 2, 0, P, {}),
)
OVER_THE_CAP = run(  # capped at 5,000 per institution
    ("complete", 0, 0, 0, P, {}),  # approved: 900 committed at institution 0
    ("complete", 1, 1, 0, S, {}),  # 900 + 5,000 at institution 0: over its cap, though the fund has 5,000
    ("complete", 2, 2, 1, S, {"days": 200}),  # at institution 1: approved, in 2021
)
ANOTHER_TIER = run(  # capped: a run of reservations, then the same enrolment completed in another tier
    ("enrol", 0, 0, 0, P, {}),  # 900 set aside at institution 0
    ("enrol", 1, 1, 1, P, {}),
    ("enrol", 2, 2, 1, S, {}),  # not enough left: nothing set aside
    ("complete", 0, 0, 0, S, {}),  # now senior: its own 900 is not counted against the cap; approved
    ("complete", 3, 1, 0, P, {}),  # the fund is out
    ("complete", 1, 1, 1, P, {"days": 200}),  # its reservation: approved, in 2021
)
ANOTHER_CLAIMANT = run(  # one enrolment, claimed again by another person at another institution, in one run
    ("complete", 0, 0, 0, P, {"status": "suspended", "seq": 2}),  # held: a new row, person 0 at institution 0
    ("complete", 0, 1, 1, P, {}),  # decided now (institution 1 is active); the row keeps its person and place
    ("complete", 1, 2, 1, P, {"passed": False}),
)
ONE_YEAR = run(  # an envelope of 5,000 for 2020
    ("enrol", 0, 0, 0, S, {}),
    ("complete", 0, 0, 0, S, {}),  # reserved, then approved in 2020: the envelope is spent
    ("complete", 1, 1, 1, P, {}),  # 2020: over the envelope
    ("complete", 2, 2, 1, P, {"days": 200}),  # 2021: no envelope
)


def watched(handled: dict[type[Event], Any], failures: list[str]) -> dict[type[Event], Any]:
    """Funding's handlers, each run's failure noted: a run that fails is redone by the inbox message by message
    (its safety net), which would hide a wrong run from the comparison unless the test looks."""

    def watch(many: Many) -> Many:
        async def apply(unit: Any, events: list[Any]) -> None:
            try:
                await many.apply(unit, events)
            except Exception as error:
                failures.append(f"{type(error).__name__}: {error}")
                raise

        return Many(apply)

    def watched_one(h: Any) -> Any:
        if isinstance(h, Only):
            return Only(h.when, watched_one(h.then))
        return watch(h) if isinstance(h, Many) else h

    return {kind: watched_one(h) for kind, h in handled.items()}


def one_by_one(policy: Policy) -> dict[type[Event], Any]:
    """Funding's use cases, each given one event: the store's one-claim-at-a-time path."""
    return {
        **handlers.consumes(policy),
        TraineeEnrolled: partial(handlers.on_trainee_enrolled, policy=policy),
        TierCompleted: partial(handlers.on_tier_completed, policy=policy),
    }


async def state(pool: asyncpg.Pool) -> dict[str, Any]:
    """Every table, ids and clocks aside: rows by enrolment, the ledger in order, the outbox's events in order."""
    subsidies = await pool.fetch(
        "SELECT id, enrollment_id, trainee_id, institution_id, tier, status, amount_yuan, reason, policy_version,"
        " completed_on, passed, decided_at IS NULL AS undecided, batch_id FROM subsidies ORDER BY enrollment_id"
    )
    ids = {r["id"]: r["enrollment_id"] for r in subsidies}
    ledger = await pool.fetch(
        "SELECT subsidy_id, entry, amount_yuan, policy_version, actor, reason, caused_by FROM ledger ORDER BY id"
    )
    events = []
    for row in await pool.fetch("SELECT topic, key, value FROM outbox ORDER BY id"):
        event = json.loads(row["value"])
        if "subsidy_id" in event:  # each approval names its own row: the enrolment it belongs to
            assert ids[uuid.UUID(event.pop("subsidy_id"))] == uuid.UUID(event["enrollment_id"])
        if event["correlation_id"] == event["event_id"]:  # a new thread (a dead letter's): its own, random id
            event["correlation_id"] = None
        del event["event_id"], event["occurred_at"]
        events.append((row["topic"], row["key"], event))
    return {
        "subsidies": [{**dict(r), "id": None} for r in subsidies],
        "fund": dict(await pool.fetchrow("SELECT total_yuan, reserved_yuan, approved_yuan, paid_yuan FROM fund") or {}),
        "ledger": [{**dict(r), "subsidy_id": ids[r["subsidy_id"]]} for r in ledger],
        "institutions": [
            dict(r)
            for r in await pool.fetch("SELECT institution_id, status, status_seq, reason FROM institutions ORDER BY 1")
        ],
        "events": events,
        "dead letters": [r["error"] for r in await pool.fetch("SELECT error FROM dead_letters ORDER BY id")],
    }


def test_a_run_decided_together_leaves_what_one_by_one_leaves(infrastructure: Infrastructure) -> None:
    loop = asyncio.new_event_loop()
    names = [f"t_runs_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    pools: list[asyncpg.Pool] = []
    seen: set[tuple[str, str | None]] = set()  # (status, rejection reason) of the reference's rows, all examples

    async def start() -> None:
        admin = await asyncpg.connect(infrastructure.database_url)
        for name in names:
            await admin.execute(f"CREATE SCHEMA {name}")
            pool = await asyncpg.create_pool(
                infrastructure.database_url, min_size=1, max_size=2, server_settings={"search_path": name}
            )
            assert pool is not None
            await migrate(pool, name, {"runtime": RUNTIME_MIGRATIONS, "funding": FUNDING_MIGRATIONS})
            pools.append(pool)
        await admin.close()

    async def compare(events: list[Event], policy: Policy) -> None:
        records = [
            Record(e.topic, 0, offset, e.key(), e.to_bytes()) for offset, e in enumerate(events)
        ]  # one partition: the order funding reads them in
        for pool in pools:
            await pool.execute(f"TRUNCATE {TABLES}, fund")
            await ensure_fund(pool, policy.fund_yuan)
        failures: list[str] = []
        together = Inbox("funding", "funding", pools[0], watched(handlers.consumes(policy), failures), FundingStore)
        await together.process(records)
        apart = Inbox("funding", "funding", pools[1], one_by_one(policy), FundingStore)
        for record in records:
            await apart.process([record])
        batched, reference = await state(pools[0]), await state(pools[1])
        # a run is redone message by message only when one of its messages is refused one by one too (a hostile
        # claim the database turns away): then the comparison below is of that path, and the refusal is the same
        assert not failures or reference["dead letters"], f"a run failed and was redone message by message: {failures}"
        for table in reference:
            assert batched[table] == reference[table], table
        seen.update((r["status"], r["reason"] if r["status"] == "rejected" else None) for r in reference["subsidies"])

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        # shrinking replays hundreds of examples on the database (minutes): on request only (RUN_SHRINK=1)
        phases=[Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink] if SHRINK else [])],
    )
    @given(events=sequences(), capped=st.booleans(), envelope=st.booleans())
    @example(events=EVERY_DECISION, capped=False, envelope=False)
    @example(events=EVERY_DECISION, capped=True, envelope=True)
    @example(events=OVER_THE_CAP, capped=True, envelope=False)
    @example(events=ANOTHER_TIER, capped=True, envelope=False)
    @example(events=ONE_YEAR, capped=False, envelope=True)
    @example(events=ANOTHER_CLAIMANT, capped=False, envelope=False)
    def check(events: list[Event], capped: bool, envelope: bool) -> None:
        loop.run_until_complete(compare(events, policy_of(capped, envelope)))

    loop.run_until_complete(start())
    try:
        check()
        # the drawn worlds reached every decision a run can make, so the comparison above had teeth
        assert seen >= {
            ("reserved", None),
            ("held", None),
            ("approved", None),
            ("withdrawn", None),
            *(("rejected", reason) for reason in REASONS),
        }, seen
    finally:

        async def stop() -> None:
            for pool in pools:
                await pool.close()
            admin = await asyncpg.connect(infrastructure.database_url)
            for name in names:
                await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            await admin.close()

        loop.run_until_complete(stop())
        loop.close()


async def test_a_suspension_committed_during_a_completions_run_is_seen(schema: Schema) -> None:
    """A completions run locks its institutions first; one funding has no row for yet cannot be locked, so a
    suspension another replica commits meanwhile must still stop its claim (read then, not from the run)."""
    await migrate(schema.pool, schema.name, {"runtime": RUNTIME_MIGRATIONS, "funding": FUNDING_MIGRATIONS})
    await ensure_fund(schema.pool, 10_000)
    known, new = INSTITUTIONS
    claims = [Claim(uuid.uuid4(), person, known, T.PROFESSIONAL) for person in PEOPLE]
    late = Claim(uuid.uuid4(), "li-na", new, T.PROFESSIONAL)
    async with schema.pool.acquire() as conn, conn.transaction():
        await FundingStore(conn).note_institution(known, InstitutionStatus.ACTIVE, 1, None)
    async with schema.pool.acquire() as conn, conn.transaction():
        store = FundingStore(conn)
        async with store.deciding([*claims, late], institutions=True):
            assert (await store.standing(claims[0])).suspension is None  # answered by the run
            async with schema.pool.acquire() as other, other.transaction():  # the other replica, meanwhile
                await FundingStore(other).note_institution(new, InstitutionStatus.SUSPENDED, 1, "fraud")
            assert (await store.standing(late)).suspension == "institution suspended: fraud"
