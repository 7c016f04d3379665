"""Funding's money rules as a stateful property, on the real PostgreSQL.

Hypothesis drives any interleaving of enrolments, completions (passed or failed, inside or outside the policy's
period, with or without the institution's status), withdrawals, suspensions and reinstatements (delivered at once
or late and out of order), finance's reversals, payments and releases of a suspended institution's reservations,
and redeliveries (the same event again, and the same completion under a new event id). Events are fed to two
funding replicas: two `Inbox`es with the same consumer name, built as funding's composition root builds them, each
on its own pool over one fresh schema; some steps give the same batch to both at once, some give each replica a
different batch at the same time. After every step the database must show:

1. a person is paid at most once per tier;
2. the fund never goes below zero, and `reserved_yuan` / `approved_yuan` / `paid_yuan` equal the subsidies behind them;
3. every approval is traceable to exactly one passed completion the test sent, inside the policy's period, whose
   institution funding knew to be active when it was decided (or a reinstatement released it later);
4. the ledger adds up to the fund's totals, and the outbox announced each approval, rejection and reversal once;
5. held completions are decided once their institution is reinstated (and all its status events were read).

The fund is small (three professional subsidies and one senior) so that exhaustion is exercised. The example count
and the number of steps can be raised for a longer hunt (MONEY_EXAMPLES=500 MONEY_STEPS=50); MONEY_SHRINK=1 shrinks a
failing example to its shortest form (slow: every replay runs on the database).
"""

import asyncio
import itertools
import json
import os
import tomllib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import asyncpg
from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from funding import handlers
from funding.policy import DEFAULT_POLICY, Policy, load_policy
from funding.store import FundingStore, ensure_fund
from plan_events import (
    EnrollmentWithdrawn,
    Event,
    InstitutionReinstated,
    InstitutionSuspended,
    Mode,
    TargetGroup,
    Tier,
    TierCompleted,
    TraineeEnrolled,
)
from plan_events.calendar import plan_today
from plan_runtime import RUNTIME_MIGRATIONS, Inbox, create_pool, migrate
from plan_runtime.errors import DomainError
from plan_runtime.http import status_of
from plan_runtime.outbox import emit
from plan_runtime.transient import is_transient
from tests.infrastructure import Infrastructure
from tests.support.kafka import Record

FUNDING_MIGRATIONS = Path(handlers.__file__).parent / "migrations"
# 100 x 30 takes ~20 s on two cores and found a held claim never decided in 10 runs out of 10 (25 examples: 7 of 10).
EXAMPLES = int(os.environ.get("MONEY_EXAMPLES", "100"))
STEPS = int(os.environ.get("MONEY_STEPS", "30"))
# Shrinking replays hundreds of examples on the database (minutes): on request only, so CI's time stays bounded.
SHRINK = os.environ.get("MONEY_SHRINK", "") not in ("", "0")
MAX_CLAIMS = 10
PEOPLE = 3
FINANCE = "auditor-wang"

MODES = st.sampled_from(["first", "second", "both"])  # which replica reads the batch ("both": at the same time)
TIERS = st.sampled_from([Tier.PROFESSIONAL, Tier.PROFESSIONAL, Tier.SENIOR, Tier.BASIC])
PASSED = st.sampled_from([True, True, True, False])
RACE_KINDS = ["enrol", "complete", "complete_new_id", "withdraw", "flip", "pending", "release"]
BURST_KINDS = ["enrol", "complete", "complete_new_id", "withdraw", "flip", "pending"]
APPROVED_EVER = ("approved", "paid", "reversed")  # a subsidy in one of these states was approved once


def money_policy(folder: Path) -> Policy:
    """The shipped policy's rates and period, with a fund of exactly 3 professional + 1 senior subsidies."""
    base = tomllib.loads(DEFAULT_POLICY.read_text())
    rates: dict[str, int] = base["rates_yuan"]
    targets = {tier: 3 if tier == Tier.PROFESSIONAL else 1 for tier in rates}
    period = base["period"]
    path = folder / "policy.toml"
    path.write_text(
        "\n".join(
            [
                f'version = "{base["version"]}-money-properties"',
                f"fund_yuan = {sum(rates[t] * n for t, n in targets.items())}",
                f"period = {{ starts_on = {period['starts_on'].isoformat()}, ends_on = {period['ends_on'].isoformat()},"
                f" grace_days = {period.get('grace_days', 0)} }}",
                "[rates_yuan]",
                *(f"{tier} = {rate}" for tier, rate in rates.items()),
                "[targets]",
                *(f"{tier} = {n}" for tier, n in targets.items()),
            ]
        )
        + "\n"
    )
    policy = load_policy(path)
    assert policy.rate(Tier.PROFESSIONAL) and policy.rate(Tier.SENIOR) and policy.rate(Tier.BASIC) is None
    return policy


def funding_handlers(policy: Policy) -> dict[type[Event], Any]:
    """The handler map of funding's composition root (funding.main.build_app)."""
    return handlers.consumes(policy)


T = TypeVar("T")


async def finance(pool: asyncpg.Pool, command: Callable[..., Awaitable[T]], *args: Any) -> T:
    """A finance command as its route runs it (plan_runtime.unit.unit_of_work): the store on one transaction;
    what the command published goes to the outbox before it commits."""
    async with pool.acquire() as conn, conn.transaction():
        published: list[Event] = []
        result = await command(FundingStore(conn, published), *args)
        await emit(conn, published)
        return result


@dataclass
class Claim:
    """One enrolment as enrollment knows it; its completion's payload is fixed when the claim is made."""

    enrolled: TraineeEnrolled
    passed: bool
    completed_on: date
    completion: TierCompleted | None = None  # sent (enrollment records a completion once)
    withdrawal: EnrollmentWithdrawn | None = None  # sent (only an open enrolment is withdrawn)

    def __repr__(self) -> str:  # what a failing example prints
        e = self.enrolled
        result = "passed" if self.passed else "failed"
        return f"<{e.trainee_id[:6]} {e.tier} at {self.label} {result} on {self.completed_on}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis prints draws with this
        printer.text(repr(self))

    @property
    def label(self) -> str:
        return "A" if self.enrolled.institution_id.int % 2 == 0 else "B"

    @property
    def enrollment_id(self) -> uuid.UUID:
        return self.enrolled.enrollment_id

    @property
    def institution_id(self) -> uuid.UUID:
        return self.enrolled.institution_id


@dataclass
class Institution:
    label: str
    id: uuid.UUID
    status: str = "active"  # the truth, as enrollment has it
    seq: int = 0  # grows with every change of status
    pending: list[Event] = field(default_factory=list)  # status events published but not yet read by funding

    def __repr__(self) -> str:
        return f"<institution {self.label}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def institution_id(even: bool) -> uuid.UUID:
    """A fresh id whose parity names it in failing examples (A: even, B: odd)."""
    while True:
        candidate = uuid.uuid4()
        if (candidate.int % 2 == 0) == even:
            return candidate


async def _all(coros: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run concurrently; wait for every one (no connection left busy), then raise the first failure."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


class MoneyMachine(RuleBasedStateMachine):
    database_url: ClassVar[str]
    policy: ClassVar[Policy]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.schema = f"t_{uuid.uuid4().hex[:10]}"
        self.pools: list[asyncpg.Pool] = []
        self.today = plan_today()
        self.people = [f"host-{i}-{uuid.uuid4().hex[:6]}" for i in range(PEOPLE)]
        self.institutions = [Institution(label, institution_id(even)) for label, even in (("A", True), ("B", False))]
        self.claims: list[Claim] = []
        self.known: dict[uuid.UUID, tuple[int, str]] = {}  # what funding was told: institution -> (seq, status)
        self.sent: list[Event] = []
        self.offsets: dict[uuid.UUID, int] = {}
        self.next_offset = itertools.count()
        self.ever_approved: set[uuid.UUID] = set()  # enrollment ids
        period = self.policy.period
        self.days = [period.starts_on, period.starts_on + (period.last_day - period.starts_on) / 2, period.last_day]
        self.days += [self.days[1], period.starts_on - timedelta(days=1), period.last_day + timedelta(days=1)]
        try:
            self.run(self._start())
        except BaseException:
            self.teardown()
            raise

    # --- plumbing ---------------------------------------------------------------------------

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)  # type: ignore[arg-type]

    async def _start(self) -> None:
        self.pools = [await create_pool(self.database_url, self.schema, size=3) for _ in range(2)]
        await migrate(self.pools[0], self.schema, {"runtime": RUNTIME_MIGRATIONS, "funding": FUNDING_MIGRATIONS})
        await ensure_fund(self.pools[0], self.policy.fund_yuan)  # funding's `prepare`
        self.replicas = [
            Inbox("funding", "funding", pool, funding_handlers(self.policy), unit=FundingStore) for pool in self.pools
        ]

    def teardown(self) -> None:
        try:
            self.run(self._stop())
        finally:
            self.loop.close()

    async def _stop(self) -> None:
        for pool in self.pools:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except TimeoutError:
                pool.terminate()
        admin = await asyncpg.connect(self.database_url)
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        finally:
            await admin.close()

    async def _process(self, replica: int, records: list[Record]) -> None:
        """One replica reads one batch; a transient failure (a deadlock between replicas) is read again, as
        plan_runtime.subscription does."""
        for attempt in itertools.count():
            try:
                outcome = await self.replicas[replica].process(records)
            except Exception as error:
                if not is_transient(error) or attempt >= 30:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
                continue
            assert not outcome.dead_letters, f"funding parked a message: {outcome.dead_letters}"
            return

    def _records(self, events: list[Event]) -> list[Record]:
        """A redelivered event comes at its first offset; a new event id is a new message."""
        return [
            Record(e.topic, 0, self.offsets.setdefault(e.event_id, next(self.next_offset)), e.key(), e.to_bytes())
            for e in events
        ]

    def _in_period(self, day: date) -> bool:
        return self.policy.period.holds(day, self.today)

    def _active(self, known: dict[uuid.UUID, tuple[int, str]], institution_id: uuid.UUID) -> bool:
        return known.get(institution_id, (0, "active"))[1] == "active"

    def _told(self, event: Event) -> tuple[int, str] | None:
        """The institution status (seq, status) an event tells funding, if any."""
        if isinstance(event, InstitutionSuspended | InstitutionReinstated):
            return event.status_seq, "suspended" if isinstance(event, InstitutionSuspended) else "active"
        if (
            isinstance(event, TierCompleted)
            and self.policy.rate(event.tier) is not None  # funding ignores a basic completion altogether
            and event.institution_status is not None
            and event.institution_status_seq is not None
        ):
            return event.institution_status_seq, event.institution_status
        return None

    def _learn(self, event: Event) -> None:
        """What funding learns of an institution's status: the highest sequence wins, whichever event told it."""
        told = self._told(event)
        if told and (event.institution_id not in self.known or told[0] > self.known[event.institution_id][0]):
            self.known[event.institution_id] = told

    def _step(self, batches: list[tuple[int, list[Event]]], releases: Sequence[Institution] = ()) -> None:
        """Deliver the batches (each to its replica, all at once) and run finance's releases alongside;
        then check that every new approval was allowed by what funding knew (property 3)."""
        before = dict(self.known)
        news: dict[uuid.UUID, set[str]] = {}  # the statuses funding may pass through during the step
        for _, events in batches:
            for event in events:
                if (told := self._told(event)) and told[0] > before.get(event.institution_id, (-1, ""))[0]:
                    news.setdefault(event.institution_id, set()).add(told[1])
                self._learn(event)

        def could_be_active(institution_id: uuid.UUID) -> bool:
            return self._active(before, institution_id) or "active" in news.get(institution_id, ())

        def expected_release(institution: Institution) -> bool | None:
            """Must finance's release succeed (True), be refused (False), or may it go either way (None: a
            status event for the institution is read at the same time)?"""
            if institution.id in news:
                return None
            return before.get(institution.id, (0, "absent"))[1] == "suspended"

        work = [self._process(replica, self._records(events)) for replica, events in batches]
        work += [self._release(i, must=expected_release(i)) for i in releases]
        self.run(_all(work))
        allowed: set[uuid.UUID] = set()
        for _, events in batches:
            self.sent += events
            for event in events:
                if isinstance(event, TierCompleted) and could_be_active(event.institution_id):
                    allowed.add(event.enrollment_id)  # it arrived while its institution was active (as far as told)
                if isinstance(event, InstitutionReinstated) and could_be_active(event.institution_id):
                    allowed |= {c.enrollment_id for c in self.claims if c.institution_id == event.institution_id}
        approved = set(
            self.run(
                self.pools[0].fetch(
                    "SELECT enrollment_id FROM subsidies WHERE status = ANY($1::text[])", list(APPROVED_EVER)
                )
            )
        )
        new = {r["enrollment_id"] for r in approved} - self.ever_approved
        assert new <= allowed, (
            f"approved while funding knew the institution suspended, with no reinstatement since: "
            f"{[self._claim(e) for e in new - allowed]}; known before {before}, after {self.known}"
        )
        self.ever_approved |= new

    async def _release(self, institution: Institution, must: bool | None) -> None:
        for attempt in itertools.count():
            try:
                await finance(
                    self.pools[0], handlers.release_reservations, institution.id, FINANCE, "institution suspended"
                )
            except DomainError as error:
                assert status_of(error) == 409 and error.code == "institution_not_suspended", error
                assert must is not True, "finance could not release a suspended institution's reservations"
                return
            except Exception as error:
                if not is_transient(error) or attempt >= 30:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
                continue
            assert must is not False, "finance released the reservations of an institution funding knows active"
            if must:
                left = await self.pools[0].fetchval(
                    "SELECT count(*) FROM subsidies WHERE institution_id = $1 AND status IN ('reserved', 'held')"
                    " AND amount_yuan > 0",
                    institution.id,
                )
                assert left == 0, "a released institution still has money set aside"
            return

    def _describe(self, event: Event) -> str:
        institution = next((i.label for i in self.institutions if i.id == getattr(event, "institution_id", None)), "?")
        if isinstance(event, InstitutionSuspended | InstitutionReinstated):
            return f"{event.type} {institution} seq {event.status_seq}"
        claim = self._claim(getattr(event, "enrollment_id", None))  # type: ignore[arg-type]
        told = f" telling {self._told(event)}" if self._told(event) else ""
        return f"{event.type} {claim}{told}"

    def _claim(self, enrollment_id: uuid.UUID) -> Claim | None:
        return next((c for c in self.claims if c.enrollment_id == enrollment_id), None)

    def _deliver(self, events: list[Event], mode: str) -> None:
        if events:
            self._step({"first": [(0, events)], "second": [(1, events)], "both": [(0, events), (1, events)]}[mode])

    # --- what enrollment and the Bureau publish ----------------------------------------------

    def _completion(self, claim: Claim, carry: bool) -> TierCompleted:
        institution = next(i for i in self.institutions if i.id == claim.institution_id)
        status = {"institution_status": institution.status, "institution_status_seq": institution.seq} if carry else {}
        e = claim.enrolled
        return TierCompleted.create(
            source="enrollment",
            subject=e.trainee_id,
            occurred_at=datetime.now(UTC),
            caused_by=e,
            enrollment_id=e.enrollment_id,
            trainee_id=e.trainee_id,
            institution_id=e.institution_id,
            tier=e.tier,
            target_group=e.target_group,
            completed_on=claim.completed_on,
            passed=claim.passed,
            **status,
        )

    def _flip(self, institution: Institution) -> Event:
        """The Bureau suspends an active institution or reinstates a suspended one."""
        institution.seq += 1
        institution.status = "suspended" if institution.status == "active" else "active"
        kind = InstitutionSuspended if institution.status == "suspended" else InstitutionReinstated
        return kind.create(
            source="enrollment",
            subject=str(institution.id),
            occurred_at=datetime.now(UTC),
            institution_id=institution.id,
            status_seq=institution.seq,
            reason=f"inspection #{institution.seq}",
        )

    def _possible(self, kinds: list[str]) -> list[str]:
        """The actions that have something to act on now."""
        return [
            kind
            for kind in kinds
            if (kind in ("flip", "release"))
            or (kind == "enrol" and self.claims)
            or (kind == "complete" and any(c.withdrawal is None for c in self.claims))
            or (kind == "complete_new_id" and any(c.completion for c in self.claims))
            or (kind == "withdraw" and any(c.completion is None for c in self.claims))
            or (kind == "pending" and any(i.pending for i in self.institutions))
        ]

    def _build(self, kind: str, data: st.DataObject) -> list[Event]:
        """The events of one action (empty when nothing fits the model's state)."""
        if kind == "enrol":  # any claim: the topics are separate, an enrolment may come after anything
            claims = self.claims
        elif kind == "complete":
            claims = [c for c in self.claims if c.withdrawal is None]
        elif kind == "complete_new_id":
            claims = [c for c in self.claims if c.completion is not None]
        elif kind == "withdraw":
            claims = [c for c in self.claims if c.completion is None]
        elif kind == "flip":
            return [self._flip(data.draw(st.sampled_from(self.institutions), label="flip"))]
        elif kind == "pending":
            waiting = [i for i in self.institutions if i.pending]
            if not waiting:
                return []
            institution = data.draw(st.sampled_from(waiting), label="late status of")
            return [institution.pending.pop(data.draw(st.integers(0, len(institution.pending) - 1), label="which"))]
        else:
            raise AssertionError(kind)
        if not claims:
            return []
        claim = data.draw(st.sampled_from(claims), label=kind)
        if kind == "enrol":
            return [claim.enrolled]
        if kind == "complete":
            if claim.completion is None:
                claim.completion = self._completion(claim, data.draw(st.booleans(), label="with institution status"))
            return [claim.completion]
        if kind == "complete_new_id":  # the same completion again, under a new event id
            assert claim.completion is not None
            return [TierCompleted.model_validate({**claim.completion.model_dump(), "event_id": uuid.uuid4()})]
        if claim.withdrawal is None:
            claim.withdrawal = EnrollmentWithdrawn.create(
                source="enrollment",
                subject=claim.enrolled.trainee_id,
                occurred_at=datetime.now(UTC),
                enrollment_id=claim.enrollment_id,
                trainee_id=claim.enrolled.trainee_id,
                institution_id=claim.institution_id,
                tier=claim.enrolled.tier,
                reason="moved away",
            )
        return [claim.withdrawal]

    # --- rules ------------------------------------------------------------------------------

    @initialize(
        people=st.lists(st.integers(0, PEOPLE - 1), min_size=2, max_size=5),
        data=st.data(),
    )
    def some_enrolments_to_start_with(self, people: list[int], data: st.DataObject) -> None:
        for person in people:
            tier, institution, passed, day = data.draw(
                st.tuples(TIERS, st.sampled_from(self.institutions), PASSED, st.integers(0, 5)), label="claim"
            )
            self.claims.append(self._new_claim(self.people[person], tier, institution, passed, day))

    @precondition(lambda self: len(self.claims) < MAX_CLAIMS)
    @rule(
        person=st.integers(0, PEOPLE - 1),
        tier=TIERS,
        institution=st.integers(0, 1),
        passed=PASSED,
        day=st.integers(0, 5),
    )
    def new_claim(self, person: int, tier: Tier, institution: int, passed: bool, day: int) -> None:
        """An institution enrols someone (nothing is sent yet); the course's result is fixed now."""
        self.claims.append(self._new_claim(self.people[person], tier, self.institutions[institution], passed, day))

    @precondition(lambda self: 0 < len(self.claims) < MAX_CLAIMS)
    @rule(data=st.data(), passed=PASSED, day=st.integers(0, 5))
    def same_person_at_the_other_institution(self, data: st.DataObject, passed: bool, day: int) -> None:
        """The same person in the same tier, claimed by the other institution too."""
        first = data.draw(st.sampled_from(self.claims), label="like")
        other = next(i for i in self.institutions if i.id != first.institution_id)
        self.claims.append(self._new_claim(first.enrolled.trainee_id, first.enrolled.tier, other, passed, day))

    def _new_claim(self, trainee: str, tier: Tier, institution: Institution, passed: bool, day: int) -> Claim:
        completed_on = self.days[day]
        enrolled = TraineeEnrolled.create(
            source="enrollment",
            subject=trainee,
            occurred_at=datetime.now(UTC),
            enrollment_id=uuid.uuid4(),
            trainee_id=trainee,
            institution_id=institution.id,
            tier=tier,
            target_group=TargetGroup.RURAL_HOUSEHOLD,
            mode=Mode.OFFLINE,
            starts_on=completed_on - timedelta(days=15),
        )
        return Claim(enrolled, passed, completed_on)

    @precondition(lambda self: self.claims)
    @rule(data=st.data(), mode=MODES)
    def enrol(self, data: st.DataObject, mode: str) -> None:
        self._deliver(self._build("enrol", data), mode)

    @precondition(lambda self: self.claims)
    @rule(data=st.data(), mode=MODES)
    def complete(self, data: st.DataObject, mode: str) -> None:
        self._deliver(self._build("complete", data), mode)

    @precondition(lambda self: any(c.completion for c in self.claims))
    @rule(data=st.data(), mode=MODES)
    def complete_again_under_a_new_event_id(self, data: st.DataObject, mode: str) -> None:
        self._deliver(self._build("complete_new_id", data), mode)

    @precondition(lambda self: self.claims)
    @rule(data=st.data(), mode=MODES)
    def withdraw(self, data: st.DataObject, mode: str) -> None:
        self._deliver(self._build("withdraw", data), mode)

    @rule(data=st.data(), mode=MODES)
    def suspend_or_reinstate(self, data: st.DataObject, mode: str) -> None:
        """The Bureau changes an institution's status; funding reads it at once."""
        self._deliver(self._build("flip", data), mode)

    @rule(institution=st.integers(0, 1))
    def suspend_or_reinstate_read_late(self, institution: int) -> None:
        """The Bureau changes an institution's status; funding reads the event later (topics are separate)."""
        chosen = self.institutions[institution]
        chosen.pending.append(self._flip(chosen))

    @precondition(lambda self: any(i.pending for i in self.institutions))
    @rule(data=st.data(), mode=MODES)
    def read_a_late_status_event(self, data: st.DataObject, mode: str) -> None:
        """Funding reads one of the institution's late status events, in any order."""
        self._deliver(self._build("pending", data), mode)

    @precondition(lambda self: self.sent)
    @rule(data=st.data(), mode=MODES)
    def redeliver(self, data: st.DataObject, mode: str) -> None:
        """The same event (same id) again: a rebalance, a retried batch."""
        event = self.sent[data.draw(st.integers(0, len(self.sent) - 1), label="again, sent event #")]
        note(f"again: {self._describe(event)}")
        self._deliver([event], mode)

    @rule(data=st.data(), size=st.integers(2, 4), mode=MODES)
    def one_batch_of_several(self, data: st.DataObject, size: int, mode: str) -> None:
        """Several actions read in one batch (one transaction, in order)."""
        events: list[Event] = []
        for _ in range(size):
            events += self._build(data.draw(st.sampled_from(self._possible(BURST_KINDS)), label="then"), data)
        self._deliver(events, mode)

    @rule(data=st.data())
    def race(self, data: st.DataObject) -> None:
        """Two different things at the same moment: each replica reads its own batch, or finance releases."""
        batches: list[tuple[int, list[Event]]] = []
        releases: list[Institution] = []
        for replica in (0, 1):
            kind = data.draw(st.sampled_from(self._possible(RACE_KINDS)), label=f"replica {replica}")
            if kind == "release":
                releases.append(data.draw(st.sampled_from(self.institutions), label="release"))
            elif events := self._build(kind, data):
                batches.append((replica, events))
        self._step(batches, releases)

    @rule(institution=st.integers(0, 1))
    def finance_releases_reservations(self, institution: int) -> None:
        self._step([], [self.institutions[institution]])

    @rule(data=st.data())
    def finance_reverses_a_subsidy(self, data: st.DataObject) -> None:
        rows = self.run(
            self.pools[1].fetch(
                "SELECT id, status, batch_id FROM subsidies WHERE status = ANY($1::text[]) ORDER BY enrollment_id",
                list(APPROVED_EVER),
            )
        )
        # the rows vary with the races' timing: what hypothesis draws must not depend on them
        pick = data.draw(st.integers(0, MAX_CLAIMS - 1), label="reverse subsidy #")
        if not rows:
            return
        row = rows[pick % len(rows)]
        reversible = row["status"] == "approved" and row["batch_id"] is None

        async def reverse() -> None:
            await finance(self.pools[1], handlers.reverse_subsidy, row["id"], FINANCE, "trainee did not attend")

        try:
            self.run(reverse())
        except DomainError as error:
            assert not reversible and status_of(error) == 409, error
        else:
            assert reversible, f"a {row['status']} subsidy was reversed"

    @rule(institution=st.integers(0, 1))
    def finance_pays_an_institution(self, institution: int) -> None:
        """Finance batches and pays an institution's approved subsidies (nothing while it is suspended)."""
        chosen = self.institutions[institution].id
        suspended = not self._active(self.known, chosen)

        async def pay() -> None:
            async with self.pools[1].acquire() as conn:
                unbatched = await FundingStore(conn).payable(chosen)
            count, total = len(unbatched), sum(p.amount_yuan for p in unbatched)
            try:
                batch = await finance(self.pools[1], handlers.create_payment_batch, chosen, count, total, FINANCE)
            except DomainError as error:
                expected = "institution_suspended" if suspended else "nothing_to_pay" if count == 0 else None
                assert status_of(error) == 409 and error.code == expected, (error.code, count)
                return
            assert not suspended, "a payment batch for an institution funding knows suspended"
            await finance(self.pools[1], handlers.pay_batch, batch.batch_id, total, FINANCE)

        self.run(pay())

    # --- invariants -------------------------------------------------------------------------

    async def _snapshot(self) -> dict[str, Any]:
        async with self.pools[0].acquire() as conn:
            return {
                "fund": await conn.fetchrow("SELECT * FROM fund WHERE id = 1"),
                "subsidies": await conn.fetch("SELECT * FROM subsidies"),
                "ledger": await conn.fetch("SELECT subsidy_id, entry, amount_yuan FROM ledger"),
                "outbox": await conn.fetch("SELECT topic, value FROM outbox"),
                "institutions": await conn.fetch("SELECT institution_id, status, status_seq FROM institutions"),
                "dead_letters": await conn.fetchval("SELECT count(*) FROM dead_letters"),
            }

    @invariant()
    def the_money_adds_up(self) -> None:
        s = self.run(self._snapshot())
        fund, subsidies, ledger = s["fund"], s["subsidies"], s["ledger"]
        assert s["dead_letters"] == 0

        def total(statuses: tuple[str, ...]) -> int:
            return sum(r["amount_yuan"] for r in subsidies if r["status"] in statuses)

        def entries(kind: str) -> int:
            return sum(e["amount_yuan"] for e in ledger if e["entry"] == kind)

        # 1. a person is paid at most once per tier
        paid = [(r["trainee_id"], r["tier"]) for r in subsidies if r["status"] in ("approved", "paid")]
        assert len(paid) == len(set(paid)), f"someone paid twice for one tier: {sorted(paid)}"

        # 2. never below zero; the totals are the subsidies behind them
        assert fund["total_yuan"] - fund["reserved_yuan"] - fund["approved_yuan"] >= 0, dict(fund)
        assert fund["reserved_yuan"] == total(("reserved", "held")), dict(fund)
        assert fund["approved_yuan"] == total(("approved", "paid")), dict(fund)
        assert fund["paid_yuan"] == total(("paid",)), dict(fund)

        # 4. the ledger sums to the fund's totals (an approval writes a 'release' of what it consumed + 'approve')
        assert fund["approved_yuan"] == entries("approve") - entries("reverse"), (dict(fund), self._sums(ledger))
        assert fund["reserved_yuan"] == entries("reserve") - entries("release"), (dict(fund), self._sums(ledger))
        assert fund["paid_yuan"] == entries("pay"), (dict(fund), self._sums(ledger))
        # ... and the outbox announced each approval, rejection and reversal exactly once
        announced = [json.loads(r["value"]) for r in s["outbox"] if r["topic"] == "subsidy-approved"]
        approved_ids = sorted(str(r["id"]) for r in subsidies if r["status"] in APPROVED_EVER)
        assert sorted(a["subsidy_id"] for a in announced) == approved_ids, "approvals announced != approvals"
        assert sum(a["amount_yuan"] for a in announced) == entries("approve")
        rejections = [json.loads(r["value"]) for r in s["outbox"] if r["topic"] == "subsidy-rejected"]
        assert sorted(r["enrollment_id"] for r in rejections) == sorted(
            str(r["enrollment_id"]) for r in subsidies if r["status"] == "rejected"
        ), "rejections announced != rejections"
        reversals = [json.loads(r["value"]) for r in s["outbox"] if r["topic"] == "subsidy-reversed"]
        assert sum(r["amount_yuan"] for r in reversals) == entries("reverse")

        # 3. every approval traceable to exactly one passed completion we sent, inside the period
        approve_entries = {}
        for e in ledger:
            if e["entry"] == "approve":
                approve_entries.setdefault(e["subsidy_id"], []).append(e["amount_yuan"])
        for r in subsidies:
            claim = self._claim(r["enrollment_id"])
            assert claim is not None, f"a subsidy for an enrolment the test never made: {dict(r)}"
            e = claim.enrolled
            assert (r["trainee_id"], r["institution_id"], r["tier"]) == (e.trainee_id, e.institution_id, e.tier)
            rate = self.policy.rate(e.tier)
            assert rate is not None, f"a subsidy row for an unsubsidised tier: {dict(r)}"
            status, why = r["status"], dict(r)
            if status in APPROVED_EVER:
                assert claim.completion is not None and claim.passed, f"approved without a passed completion: {why}"
                assert self._in_period(claim.completed_on), f"approved outside the policy's period: {why}"
                assert r["completed_on"] == claim.completed_on and r["amount_yuan"] == rate, why
                assert approve_entries.get(r["id"]) == [rate], f"approved {approve_entries.get(r['id'])}: {why}"
            else:
                assert r["id"] not in approve_entries, f"an approve entry for a {status} subsidy: {why}"
            if status == "held":
                assert claim.completion is not None and claim.passed and self._in_period(claim.completed_on), why
                assert r["amount_yuan"] in (0, rate), why
            elif status == "rejected":
                assert claim.completion is not None and r["amount_yuan"] == 0, why
                if not self._in_period(claim.completed_on):
                    assert r["reason"] == "outside_plan_period", why
                elif not claim.passed:
                    assert r["reason"] == "assessment_failed", why
                else:
                    assert r["reason"] in ("duplicate_claim", "fund_exhausted", "institution_cap_reached"), why
            elif status == "withdrawn":
                assert claim.withdrawal is not None and r["amount_yuan"] == 0, why
            elif status == "reserved":
                assert r["amount_yuan"] == rate, why
            elif status == "released":
                assert r["amount_yuan"] == 0, why
        # ... nothing approved earlier went back to another state, and nothing got approved outside a delivery
        assert {r["enrollment_id"] for r in subsidies if r["status"] in APPROVED_EVER} == self.ever_approved

        # funding keeps each institution's newest status, whichever topic told it first
        stored = {r["institution_id"]: (r["status_seq"], r["status"]) for r in s["institutions"]}
        assert stored == self.known, f"funding's view of the institutions {stored} != what it was told {self.known}"

        # 5. held completions are decided once their institution is reinstated (and every status event was read)
        for institution in self.institutions:
            if institution.status == "active" and not institution.pending:
                held = [dict(r) for r in subsidies if r["institution_id"] == institution.id and r["status"] == "held"]
                assert not held, f"held at a reinstated institution (seq {institution.seq}): {held}"

    @staticmethod
    def _sums(ledger: list[Any]) -> dict[str, int]:
        sums: dict[str, int] = {}
        for e in ledger:
            sums[e["entry"]] = sums.get(e["entry"], 0) + e["amount_yuan"]
        return sums


def test_no_interleaving_of_events_and_finance_breaks_the_money_rules(
    infrastructure: Infrastructure, tmp_path: Path
) -> None:
    machine = type(
        "FundingMoney",
        (MoneyMachine,),
        {"database_url": infrastructure.database_url, "policy": money_policy(tmp_path)},
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,  # no .hypothesis directory in the repository
            print_blob=True,
            phases=[Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink] if SHRINK else [])],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
