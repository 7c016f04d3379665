"""The portal's read model on the real PostgreSQL: the same whatever order the events arrive in, unchanged by an
event applied twice, and counting enrolments as enrollment's own progress query counts them.

A history is generated (hypothesis): enrolments at a few institutions in every tier and target group, each of
which stays open, is withdrawn, or completes (passed with an outcome, or failed); passed completions are
approved or rejected (with a reason) by funding, approvals are sometimes reversed; institutions are suspended and
reinstated (status_seq rising); green-card notices are announced. The events are applied through the portal's
own handlers (portal.projection.consumes(), each on a PortalStore), once in the order they happened and once in
a hypothesis permutation with some of them delivered again (Kafka delivers at least once, and each topic in its
own order). Both read models must be the same (except `changed_at`, the time a row was last written), and
`store.counts()` must equal what the events say, counted as enrollment's `/progress` counts its rows.

Sessions: an expired session is not found; a log-out deletes it; the sealed key is stored, not the key.
"""

import asyncio
import itertools
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plan_events import (
    EligibilityRoute,
    EnrollmentWithdrawn,
    Event,
    GreenCardEligible,
    InstitutionReinstated,
    InstitutionSuspended,
    Mode,
    Outcome,
    OutcomeReported,
    SubsidyApproved,
    SubsidyRejected,
    SubsidyRejection,
    SubsidyReversed,
    TargetGroup,
    Tier,
    TierCompleted,
    TraineeEnrolled,
)
from plan_runtime.db import create_pool
from plan_runtime.migrations import migrate
from plan_runtime.migrator import tracks
from portal import projection
from portal.security import Sealer, new_token, token_hash
from portal.store import PortalStore
from tests.infrastructure import Infrastructure
from tests.support.plan import completion, enrolment

EXAMPLES = int(os.environ.get("PORTAL_PROJECTION_EXAMPLES", "40"))
INSTITUTIONS = [uuid.UUID(int=0xA001 + n) for n in range(3)]
START = datetime(2020, 6, 1, 9, 0, tzinfo=UTC)


# --- a schema migrated like the portal's, for the whole module ------------------------------------------------


@dataclass
class Database:
    url: str
    schema: str


@pytest.fixture(scope="module")
def database(infrastructure: Infrastructure) -> Iterator[Database]:
    name = f"t_portal_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        admin = await asyncpg.connect(infrastructure.database_url)
        try:
            await admin.execute(f"CREATE SCHEMA {name}")
        finally:
            await admin.close()
        pool = await create_pool(infrastructure.database_url, name, size=2)
        try:
            await migrate(pool, name, tracks("portal"))
        finally:
            await pool.close()

    async def drop() -> None:
        admin = await asyncpg.connect(infrastructure.database_url)
        try:
            await admin.execute(f"DROP SCHEMA {name} CASCADE")
        finally:
            await admin.close()

    asyncio.run(create())
    try:
        yield Database(infrastructure.database_url, name)
    finally:
        asyncio.run(drop())


async def _connect(db: Database) -> asyncpg.Pool:
    return await create_pool(db.url, db.schema, size=2)  # the portal's own codecs (jsonb) on its connections


# --- a generated history ----------------------------------------------------------------------------------------


@dataclass
class Fate:
    tier: Tier
    group: TargetGroup
    institution: int
    ending: str  # open | withdrawn | passed | failed
    outcome: Outcome | None
    reported: list[Outcome]  # reported (then corrected) after a passed course: outcome-reported events
    decision: str  # none | approved | rejected
    reason: SubsidyRejection
    reversed: bool
    start_day: int
    length: int


FATES = st.builds(
    Fate,
    tier=st.sampled_from(Tier),
    group=st.sampled_from(TargetGroup),
    institution=st.integers(0, len(INSTITUTIONS) - 1),
    ending=st.sampled_from(["open", "withdrawn", "passed", "failed"]),
    outcome=st.none() | st.sampled_from(Outcome),
    reported=st.lists(st.sampled_from(Outcome), max_size=2),
    decision=st.sampled_from(["none", "approved", "rejected"]),
    reason=st.sampled_from(SubsidyRejection),
    reversed=st.booleans(),
    start_day=st.integers(0, 500),
    length=st.integers(15, 120),
)


def history(fates: list[Fate], standings: list[int], notices: int) -> list[Event]:
    """The events of these fates, in the order they happened."""
    events: list[tuple[datetime, Event]] = []
    for n, fate in enumerate(fates):
        trainee, institution = f"tr-{n:04d}", INSTITUTIONS[fate.institution]
        starts_on = date(2020, 1, 1) + timedelta(days=fate.start_day)
        at = START + timedelta(days=fate.start_day, minutes=n)
        enrolled = TraineeEnrolled.create(
            source="enrollment", subject=trainee, occurred_at=at, enrollment_id=uuid.uuid4(), trainee_id=trainee,
            institution_id=institution, tier=fate.tier, target_group=fate.group, mode=Mode.ONLINE,
            starts_on=starts_on, niche=None,
        )  # fmt: skip
        events.append((at, enrolled))
        ended = at + timedelta(days=fate.length)
        if fate.ending == "withdrawn":
            events.append(
                (
                    ended,
                    EnrollmentWithdrawn.create(
                        source="enrollment", subject=trainee, occurred_at=ended, enrollment_id=enrolled.enrollment_id,
                        trainee_id=trainee, institution_id=institution, tier=fate.tier, reason="moved away",
                    ),
                )
            )  # fmt: skip
        elif fate.ending in ("passed", "failed"):
            passed = fate.ending == "passed"
            done = TierCompleted.create(
                source="enrollment", subject=trainee, occurred_at=ended, caused_by=enrolled,
                enrollment_id=enrolled.enrollment_id, trainee_id=trainee, institution_id=institution, tier=fate.tier,
                target_group=fate.group, completed_on=starts_on + timedelta(days=fate.length), passed=passed,
                outcome=fate.outcome if passed else None,
            )  # fmt: skip
            events.append((ended, done))
            for k, later in enumerate(fate.reported if passed else []):
                told = ended + timedelta(days=10 + k)
                events.append(
                    (
                        told,
                        OutcomeReported.create(
                            source="enrollment", subject=trainee, occurred_at=told,
                            enrollment_id=enrolled.enrollment_id, trainee_id=trainee, institution_id=institution,
                            tier=fate.tier, outcome=later,
                        ),
                    )
                )  # fmt: skip
            decided = ended + timedelta(hours=1)
            if fate.decision == "approved" and passed:
                approved = SubsidyApproved.create(
                    source="funding", subject=trainee, occurred_at=decided, caused_by=done, subsidy_id=uuid.uuid4(),
                    enrollment_id=enrolled.enrollment_id, trainee_id=trainee, institution_id=institution,
                    tier=fate.tier, amount_yuan=900 if fate.tier == Tier.PROFESSIONAL else 1800,
                    policy_version="2020-08-v2",
                )  # fmt: skip
                events.append((decided, approved))
                if fate.reversed:
                    back = decided + timedelta(days=2)
                    events.append(
                        (
                            back,
                            SubsidyReversed.create(
                                source="funding", subject=trainee, occurred_at=back, caused_by=approved,
                                subsidy_id=approved.subsidy_id, trainee_id=trainee, institution_id=institution,
                                tier=fate.tier, amount_yuan=approved.amount_yuan, reason="did not attend",
                            ),
                        )
                    )  # fmt: skip
            elif fate.decision == "rejected" or (fate.decision == "approved" and not passed):
                reason = fate.reason if passed else SubsidyRejection.ASSESSMENT_FAILED
                events.append(
                    (
                        decided,
                        SubsidyRejected.create(
                            source="funding", subject=trainee, occurred_at=decided, caused_by=done,
                            enrollment_id=enrolled.enrollment_id, trainee_id=trainee, institution_id=institution,
                            tier=fate.tier, reason=reason, policy_version="2020-08-v2",
                        ),
                    )
                )  # fmt: skip
    for n, changes in enumerate(standings):  # institution n: `changes` status changes, suspended first
        institution = INSTITUTIONS[n % len(INSTITUTIONS)]
        for seq in range(1, changes + 1):
            at = START + timedelta(days=30 * seq, hours=n)
            kind = InstitutionSuspended if seq % 2 else InstitutionReinstated
            events.append(
                (
                    at,
                    kind.create(
                        source="enrollment", subject=str(institution), occurred_at=at, institution_id=institution,
                        status_seq=seq, reason=f"change {seq}",
                    ),
                )
            )  # fmt: skip
    for n in range(notices):
        at = START + timedelta(days=n)
        events.append(
            (
                at,
                GreenCardEligible.create(
                    source="talent-card", subject=f"p-{n}", occurred_at=at, notice_id=uuid.uuid4(), person_id=f"p-{n}",
                    route=EligibilityRoute.PLAN if n % 2 else EligibilityRoute.INTRODUCED, rule_id="plan-senior-talent",
                    rule_version="1",
                ),
            )
        )  # fmt: skip
    return [event for _, event in sorted(events, key=lambda pair: pair[0])]


HISTORIES = st.builds(
    history,
    st.lists(FATES, min_size=1, max_size=12),
    st.lists(st.integers(0, 4), max_size=len(INSTITUTIONS)),
    st.integers(0, 3),
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Event], list[Event]]:
    """A history, and the same events in another order with some delivered again."""
    events = draw(HISTORIES)
    again = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    return events, draw(st.permutations(events + again))


# --- applying events and reading the read model -----------------------------------------------------------------

HANDLERS = projection.consumes()
TABLES = {
    "enrolments": "enrollment_id",
    "decisions": "enrollment_id",
    "reversals": "subsidy_id",
    "institution_standing": "institution_id",
    "notices": "notice_id",
}


async def apply(conn: asyncpg.Connection, events: list[Event], batch: int = 1) -> None:
    """As the inbox does: each batch on one PortalStore (one unit of work), each run of consecutive events that
    share a handler in one call (the inbox drops an event id it has seen; here a run may hold one twice)."""
    for start in range(0, len(events), batch):
        store = PortalStore(conn)
        for _, run in itertools.groupby(events[start : start + batch], key=lambda e: id(HANDLERS[type(e)])):
            events_of_run = list(run)
            await HANDLERS[type(events_of_run[0])].apply(store, events_of_run)


async def read_model(conn: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    state = {}
    for table, key in TABLES.items():
        rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY {key}")
        state[table] = [{k: v for k, v in dict(r).items() if k != "changed_at"} for r in rows]
    return state


def expected_counts(events: list[Event]) -> Counter[tuple[str, str]]:
    """Enrolments by tier, counted from the events as enrollment's progress query counts its rows."""
    status: dict[uuid.UUID, tuple[str, str, str | None]] = {}  # enrolment -> (tier, status, outcome)
    for event in events:
        if isinstance(event, TraineeEnrolled):
            status.setdefault(event.enrollment_id, (event.tier.value, "open", None))
        elif isinstance(event, TierCompleted):
            outcome = event.outcome.value if event.outcome else None
            status[event.enrollment_id] = (event.tier.value, "passed" if event.passed else "failed", outcome)
        elif isinstance(event, EnrollmentWithdrawn):
            status[event.enrollment_id] = (event.tier.value, "withdrawn", None)
        elif isinstance(event, OutcomeReported):  # events are in the order they happened: the last report wins
            tier, state, _ = status[event.enrollment_id]
            status[event.enrollment_id] = (tier, state, event.outcome.value)
    counts: Counter[tuple[str, str]] = Counter()
    for tier, state, outcome in status.values():
        counts[tier, "enrolled"] += 1
        counts[tier, {"open": "open", "passed": "completed", "failed": "failed", "withdrawn": "withdrawn"}[state]] += 1
        if state == "passed" and outcome in ("employed", "own_business"):
            counts[tier, outcome] += 1
    return counts


def counted(rows: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:
        for name in ("enrolled", "open", "completed", "failed", "withdrawn", "employed", "own_business"):
            if row[name]:
                counts[row["tier"], name] += row[name]
    return counts


async def _in_rolled_back(db: Database, events: list[Event], batch: int) -> tuple[dict[str, Any], Any, Any]:
    pool = await _connect(db)
    try:
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                await apply(conn, events, batch)
                store = PortalStore(conn)
                return await read_model(conn), await store.counts(), await store.counts(by="institution_id")
            finally:
                await transaction.rollback()
    finally:
        await pool.close()


# --- the properties ---------------------------------------------------------------------------------------------


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(delivered=deliveries(), batch=st.integers(1, 5))
def test_the_read_model_is_the_same_in_any_order_and_with_any_event_twice(
    database: Database, delivered: tuple[list[Event], list[Event]], batch: int
) -> None:
    in_order, shuffled = delivered
    first, counts, by_institution = asyncio.run(_in_rolled_back(database, in_order, 1))
    second, counts_again, _ = asyncio.run(_in_rolled_back(database, shuffled, batch))
    # a topic at a time, all in one batch: long runs of one kind, an event delivered twice inside its run
    by_topic, _, _ = asyncio.run(_in_rolled_back(database, sorted(shuffled, key=lambda e: e.topic), len(shuffled)))
    assert second == first
    assert by_topic == first
    assert counted(counts) == expected_counts(in_order)
    assert counted(counts_again) == expected_counts(in_order)
    assert counted(by_institution) == expected_counts(in_order)  # the same totals, split by institution


@settings(max_examples=max(5, EXAMPLES // 4), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=HISTORIES)
def test_applying_every_event_twice_changes_nothing(database: Database, events: list[Event]) -> None:
    once, _, _ = asyncio.run(_in_rolled_back(database, events, 1))
    twice, _, _ = asyncio.run(_in_rolled_back(database, [e for e in events for _ in (1, 2)], 1))
    twice_in_one_batch, _, _ = asyncio.run(_in_rolled_back(database, events + events, 2 * len(events)))
    assert twice == once
    assert twice_in_one_batch == once


def test_the_read_model_follows_the_events_meaning(database: Database) -> None:
    """One hand-made history, read back: the latest standing wins, a rejection after an approval of the same
    completion does not undo it, a reversal is its own row, and the version moves with every unit of work."""
    fate = Fate(Tier.PROFESSIONAL, TargetGroup.UNEMPLOYED, 0, "passed", Outcome.EMPLOYED, [Outcome.OWN_BUSINESS],
                "approved", SubsidyRejection.FUND_EXHAUSTED, True, 10, 20)  # fmt: skip
    events = history([fate], [3], 1)
    approved = next(e for e in events if isinstance(e, SubsidyApproved))
    late_rejection = SubsidyRejected.create(
        source="funding", subject=approved.trainee_id, occurred_at=approved.occurred_at + timedelta(days=1),
        enrollment_id=approved.enrollment_id, trainee_id=approved.trainee_id, institution_id=approved.institution_id,
        tier=approved.tier, reason=SubsidyRejection.DUPLICATE_CLAIM, policy_version="2020-08-v2",
    )  # fmt: skip

    async def check() -> None:
        pool = await _connect(database)
        try:
            async with pool.acquire() as conn:
                transaction = conn.transaction()
                await transaction.start()
                try:
                    before = await PortalStore(conn).version()
                    await apply(conn, [*reversed(events), late_rejection], batch=2)
                    model = await read_model(conn)
                    assert await PortalStore(conn).version() == before + (len(events) + 2) // 2
                    (enrolment,) = model["enrolments"]
                    assert (enrolment["status"], enrolment["outcome"], enrolment["target_group"]) == (
                        "passed", "own_business", "unemployed",  # the report after the completion wins
                    )  # fmt: skip
                    (decision,) = model["decisions"]
                    assert (decision["status"], decision["amount_yuan"]) == ("approved", 900)
                    assert [r["amount_yuan"] for r in model["reversals"]] == [900]
                    (standing,) = model["institution_standing"]
                    assert (standing["status"], standing["status_seq"]) == ("suspended", 3)
                    rows = await PortalStore(conn).decisions_summary()
                    summary = {(r["status"], r["reason"]): r["count"] for r in rows}
                    assert summary == {("approved", ""): 1, ("reversed", ""): 1}
                finally:
                    await transaction.rollback()
        finally:
            await pool.close()

    asyncio.run(check())


# --- sessions ---------------------------------------------------------------------------------------------------


def test_sessions_expire_and_a_log_out_deletes_them(database: Database) -> None:
    sealer = Sealer("integration secret")

    async def check() -> None:
        pool = await _connect(database)
        try:
            async with pool.acquire() as conn:
                transaction = conn.transaction()
                await transaction.start()
                try:
                    store = PortalStore(conn)
                    now = datetime.now(UTC)
                    live, expired, institution = new_token(), new_token(), new_token()
                    for token, role, where, ends in (
                        (live, "bureau", None, now + timedelta(hours=8)),
                        (expired, "finance", None, now - timedelta(seconds=1)),
                        (institution, "institution", (INSTITUTIONS[0], "Village Room"), now + timedelta(hours=1)),
                    ):
                        hashed = token_hash(token)
                        await store.open_session(hashed, role, where, sealer.seal(f"key-of-{role}", hashed), "c", ends)
                    found = await store.session(token_hash(live))
                    assert found is not None and found.role == "bureau"
                    assert sealer.open(found.key_sealed, token_hash(live)) == "key-of-bureau"
                    assert await store.session(token_hash(expired)) is None  # expired: not found
                    assert await store.session(token_hash("no such token")) is None
                    mine = await store.session(token_hash(institution))
                    assert mine is not None and (mine.institution_id, mine.institution_name) == (
                        INSTITUTIONS[0], "Village Room",
                    )  # fmt: skip
                    stored = await conn.fetch("SELECT token_hash, key_sealed FROM sessions")
                    for row in stored:  # neither a token nor a key is kept in the clear
                        assert bytes(row["token_hash"]) not in {live.encode(), institution.encode()}
                        assert b"key-of-" not in bytes(row["key_sealed"])
                    await store.close_session(token_hash(live))
                    assert await store.session(token_hash(live)) is None
                    left = await conn.fetchval("SELECT count(*) FROM sessions WHERE token_hash = $1", token_hash(live))
                    assert left == 0
                    # the next log-in sweeps the expired ones
                    hashed = token_hash(new_token())
                    soon = now + timedelta(hours=1)
                    await store.open_session(hashed, "bureau", None, sealer.seal("k", hashed), "c", soon)
                    assert await conn.fetchval("SELECT count(*) FROM sessions WHERE expires_at < now()") == 0
                finally:
                    await transaction.rollback()
        finally:
            await pool.close()

    asyncio.run(check())


# --- storage ----------------------------------------------------------------------------------------------------


def test_a_completion_rewrites_its_enrolment_in_its_own_page(database: Database) -> None:
    """A completion changes no indexed column of its enrolment: with room left in each page (the table's
    fillfactor), the new version stays in the page as a HOT update and no index takes an entry for it. With full
    pages, 4 % of a plan's completions were HOT; here, in one transaction (nothing pruned yet), most must be."""
    enrolled = [enrolment(tier=Tier.BASIC) for _ in range(2_000)]
    completed = [completion(e) for e in enrolled]

    async def check() -> float:
        pool = await _connect(database)
        try:
            async with pool.acquire() as conn:
                transaction = conn.transaction()
                await transaction.start()
                try:
                    store = PortalStore(conn)
                    await store.enrolled(enrolled)
                    for start in range(0, len(completed), 500):  # the consumer's batches
                        await store.completed(completed[start : start + 500])
                    updated, hot = await conn.fetchrow(
                        "SELECT pg_stat_get_xact_tuples_updated(oid), pg_stat_get_xact_tuples_hot_updated(oid)"
                        " FROM pg_class WHERE oid = 'enrolments'::regclass"
                    )
                    assert updated == len(completed)
                    return float(hot / updated)
                finally:
                    await transaction.rollback()
        finally:
            await pool.close()

    share = asyncio.run(check())
    assert share >= 0.6, f"{share:.0%} of the completions were HOT updates"
