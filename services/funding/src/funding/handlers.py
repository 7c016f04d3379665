"""Use cases: one short script per incoming event or finance command, on the unit of work they are given.

Each gets a `FundingUnit` (funding.ports: the PostgreSQL store in the service, the in-memory fake in the unit
tests), applies the rules of funding.domain and `publish`es the events to announce. None builds its store,
opens a transaction or knows HTTP: refusals are domain errors.
"""

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import partial
from typing import TypedDict
from uuid import UUID

from funding.domain import (
    ApprovalSpan,
    Approved,
    BatchStatus,
    Claim,
    FundPosition,
    Held,
    InstitutionStatus,
    NewBatch,
    PaymentBatch,
    Rejected,
    Subsidy,
    SubsidyStatus,
    Total,
    batch_not_found,
    burn_rate,
    decide_payment,
    decide_payment_batch,
    decide_release,
    decide_reservation,
    decide_reversal,
    decide_subsidy,
    decide_withdrawal,
    exhaustion,
)
from funding.policy import Policy
from funding.ports import FundingUnit
from plan_events import (
    EnrollmentWithdrawn,
    Event,
    InstitutionReinstated,
    InstitutionSuspended,
    SubsidyApproved,
    SubsidyRejected,
    SubsidyReversed,
    Tier,
    TierCompleted,
    TraineeEnrolled,
)
from plan_events.calendar import plan_today
from plan_events.ids import new_id
from plan_runtime.consumer import Handler, Many, Only

SOURCE = "funding"


def claim_of(event: TraineeEnrolled | TierCompleted | EnrollmentWithdrawn) -> Claim:
    return Claim(event.enrollment_id, event.trainee_id, event.institution_id, event.tier)


# --- events -------------------------------------------------------------------------------------


async def on_trainee_enrolled(unit: FundingUnit, event: TraineeEnrolled, policy: Policy) -> None:
    """Reserve the rate for an enrolment in a subsidised tier (if nothing was decided for it yet)."""
    if policy.rate(event.tier) is None:
        return  # basic: no query at all, it is most of the traffic
    claim = claim_of(event)
    reservation = decide_reservation(claim, await unit.standing(claim, capped=policy.capped), policy)
    if reservation:
        await unit.reserve(reservation, caused_by=event.event_id)


async def on_tier_completed(unit: FundingUnit, event: TierCompleted, policy: Policy, today: date | None = None) -> None:
    """Decide the subsidy for a completion and announce the decision."""
    if policy.rate(event.tier) is None:
        return  # a basic completion: not paid from this fund, nothing to decide or announce
    if event.institution_status is not None and event.institution_status_seq is not None:
        status = InstitutionStatus(event.institution_status)
        await unit.note_institution(event.institution_id, status, event.institution_status_seq, None)
    await _decide(unit, claim_of(event), event.passed, event.completed_on, policy, today or plan_today(), event)


async def _decide(
    unit: FundingUnit, claim: Claim, passed: bool, completed_on: date, policy: Policy, today: date, cause: Event
) -> None:
    standing = await unit.standing(claim, capped=policy.capped, year=policy.envelope_year(completed_on))
    decision = decide_subsidy(claim, passed, completed_on, standing, policy, today)
    if isinstance(decision, Held):
        await unit.hold(decision, completed_on, passed, caused_by=cause.event_id)
    elif isinstance(decision, Approved):
        subsidy_id = await unit.approve(decision, completed_on, caused_by=cause.event_id)
        unit.publish(approved_event(decision, subsidy_id, cause))
    elif isinstance(decision, Rejected):
        await unit.reject(decision, completed_on, caused_by=cause.event_id)
        unit.publish(rejected_event(decision, cause))


async def on_institution_suspended(unit: FundingUnit, event: InstitutionSuspended, policy: Policy) -> None:
    """From now on the institution's completions are held; its reservations stay until finance releases them."""
    await unit.note_institution(event.institution_id, InstitutionStatus.SUSPENDED, event.status_seq, event.reason)


async def on_institution_reinstated(
    unit: FundingUnit, event: InstitutionReinstated, policy: Policy, today: date | None = None
) -> None:
    """Decide every completion held during the suspension, each as it would have been decided then."""
    now = await unit.note_institution(event.institution_id, InstitutionStatus.ACTIVE, event.status_seq, event.reason)
    if now != InstitutionStatus.ACTIVE:
        return  # a newer suspension is already known: stay held
    await unit.lock_fund()  # locks in one order everywhere: institution, fund, subsidies
    for held in await unit.held_claims(event.institution_id):
        # the decision's cause is the reinstatement that released it
        await _decide(unit, held.claim, held.passed, held.completed_on, policy, today or plan_today(), event)


async def on_enrollment_withdrawn(unit: FundingUnit, event: EnrollmentWithdrawn, policy: Policy) -> None:
    """Give a withdrawn enrolment's reservation back; remember the withdrawal if it came first."""
    if policy.rate(event.tier) is None:
        return
    claim = claim_of(event)
    withdrawal = decide_withdrawal(claim, await unit.standing(claim, capped=policy.capped))
    if withdrawal:
        await unit.withdraw(withdrawal, caused_by=event.event_id)


async def on_trainees_enrolled(unit: FundingUnit, events: list[TraineeEnrolled], policy: Policy) -> None:
    """A run of enrolments, decided as one by one, in order; the store reads and writes their claims once."""
    claims = [claim_of(event) for event in events if policy.rate(event.tier) is not None]
    async with unit.deciding(claims, capped=policy.capped):
        for event in events:
            await on_trainee_enrolled(unit, event, policy)


async def on_tiers_completed(
    unit: FundingUnit, events: list[TierCompleted], policy: Policy, today: date | None = None
) -> None:
    """A run of completions, decided as one by one, in order (each with the institution's status as far as the
    completions before it told it); the store reads and writes their claims once."""
    subsidised = [event for event in events if policy.rate(event.tier) is not None]
    years = {year for event in subsidised if (year := policy.envelope_year(event.completed_on)) is not None}
    claims = [claim_of(event) for event in subsidised]
    async with unit.deciding(claims, capped=policy.capped, years=years, institutions=True):
        for event in events:
            await on_tier_completed(unit, event, policy, today)


def consumes(policy: Policy) -> dict[type[Event], Handler | Many | Only]:
    """What funding reads, and the use case each event goes to (registered once, in funding.main). An enrolment,
    completion or withdrawal in a tier the fund does not pay for is none of funding's business (each handler
    returns at once for it): the inbox leaves it out, with no inbox row."""

    def paid(event: TraineeEnrolled | TierCompleted | EnrollmentWithdrawn) -> bool:
        return policy.rate(event.tier) is not None

    return {
        TraineeEnrolled: Only(paid, Many(partial(on_trainees_enrolled, policy=policy))),
        TierCompleted: Only(paid, Many(partial(on_tiers_completed, policy=policy))),
        EnrollmentWithdrawn: Only(paid, partial(on_enrollment_withdrawn, policy=policy)),
        InstitutionSuspended: partial(on_institution_suspended, policy=policy),
        InstitutionReinstated: partial(on_institution_reinstated, policy=policy),
    }


class _Claimed(TypedDict):
    enrollment_id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier


def _claimed(claim: Claim) -> _Claimed:
    """What every decision's event says of its claim."""
    return _Claimed(
        enrollment_id=claim.enrollment_id,
        trainee_id=claim.trainee_id,
        institution_id=claim.institution_id,
        tier=claim.tier,
    )


def approved_event(decision: Approved, subsidy_id: UUID, cause: Event) -> SubsidyApproved:
    return SubsidyApproved.create(
        source=SOURCE,
        subject=decision.claim.trainee_id,
        occurred_at=datetime.now(UTC),
        caused_by=cause,
        subsidy_id=subsidy_id,
        amount_yuan=decision.amount,
        policy_version=decision.policy_version,
        **_claimed(decision.claim),
    )


def rejected_event(decision: Rejected, cause: Event) -> SubsidyRejected:
    return SubsidyRejected.create(
        source=SOURCE,
        subject=decision.claim.trainee_id,
        occurred_at=datetime.now(UTC),
        caused_by=cause,
        reason=decision.reason,
        policy_version=decision.policy_version,
        **_claimed(decision.claim),
    )


# --- finance's commands -----------------------------------------------------------------------


@dataclass(frozen=True)
class Released:
    institution_id: UUID
    released_count: int
    released_yuan: int


async def release_reservations(unit: FundingUnit, institution_id: UUID, actor: str, reason: str) -> Released:
    """Finance gives a suspended institution's reservations back to the fund (its held completions stay held)."""
    decide_release(await unit.institution(institution_id, lock=True))  # a reinstatement waits for this release
    count, yuan = await unit.release_reservations(institution_id, actor, reason)
    return Released(institution_id, count, yuan)


@dataclass(frozen=True)
class BatchCreated:
    batch_id: UUID
    batch: NewBatch
    status: BatchStatus = BatchStatus.OPEN


async def create_payment_batch(
    unit: FundingUnit, institution_id: UUID, declared_count: int, declared_total: int, actor: str
) -> BatchCreated:
    """Group the institution's approved, unbatched subsidies; the declared figures must match."""
    institution = await unit.institution(institution_id, lock=True)  # locks: institution, then subsidies
    batch = decide_payment_batch(
        institution_id, institution, await unit.payable(institution_id), declared_count, declared_total
    )
    created = BatchCreated(new_id(), batch)
    await unit.create_batch(created.batch_id, batch, actor)
    return created


async def pay_batch(unit: FundingUnit, batch_id: UUID, declared_total: int, actor: str) -> PaymentBatch:
    """Mark a batch paid; answers the batch as it was read, now paid."""
    batch = await unit.batch(batch_id, lock=True)
    if batch is None:
        raise batch_not_found(batch_id)
    institution = await unit.institution(batch.institution_id, lock=True)
    decide_payment(batch, institution, declared_total)
    await unit.pay_batch(batch_id, actor)
    return replace(batch, status=BatchStatus.PAID)


async def reverse_subsidy(unit: FundingUnit, subsidy_id: UUID, actor: str, reason: str) -> Subsidy:
    """Undo an approved (unpaid, unbatched) subsidy: the money returns to the fund, an event says so."""
    subsidy = decide_reversal(subsidy_id, await unit.subsidy(subsidy_id))
    await unit.reverse(subsidy_id, subsidy.amount_yuan, actor, reason)
    unit.publish(
        SubsidyReversed.create(
            source=SOURCE,
            subject=subsidy.trainee_id,
            occurred_at=datetime.now(UTC),
            subsidy_id=subsidy_id,
            trainee_id=subsidy.trainee_id,
            institution_id=subsidy.institution_id,
            tier=subsidy.tier,
            amount_yuan=subsidy.amount_yuan,
            reason=reason,
        )
    )
    return replace(subsidy, status=SubsidyStatus.REVERSED, reason=reason)


# --- finance's reads that compute ---------------------------------------------------------------


@dataclass(frozen=True)
class FundOutlook:
    position: FundPosition
    burn_rate: float | None  # approved yuan per day of completions so far
    projected_exhaustion: date | None


async def fund_outlook(unit: FundingUnit) -> FundOutlook:
    """The fund's position, its burn rate and when it runs out at that rate."""
    position = await unit.position()
    span: ApprovalSpan = await unit.approval_span()
    rate = burn_rate(span)
    return FundOutlook(position, rate, exhaustion(span.last, position.available, rate))


@dataclass(frozen=True)
class Summary:
    by_status_and_tier: list[Total]
    rejections_by_reason: list[Total]
    ledger: dict[str, int]


async def summary(unit: FundingUnit) -> Summary:
    """Counts and yuan by status and tier, rejections by reason, and the ledger's sums."""
    by_reason = await unit.totals_by("status", "reason")
    return Summary(
        await unit.totals_by("status", "tier"),
        [t for t in by_reason if t.status == SubsidyStatus.REJECTED],
        await unit.ledger_sums(),
    )


@dataclass(frozen=True)
class Statement:
    institution_id: UUID
    totals: list[Total]
    by: tuple[str, ...]  # what the totals are grouped by
    page: list[Subsidy] | None = None  # with details
    subsidy_count: int | None = None
    next_offset: int | None = None


async def statement(unit: FundingUnit, institution_id: UUID, details: bool, limit: int, offset: int) -> Statement:
    """An institution's totals; with details, its subsidies a page at a time (nothing cut off silently)."""
    if not details:
        by: tuple[str, ...] = ("status", "tier", "reason")
        return Statement(institution_id, await unit.totals_by(*by, institution_id=institution_id), by)
    by = ("status", "tier")
    totals = await unit.totals_by(*by, institution_id=institution_id)
    page = await unit.subsidies(institution_id=institution_id, limit=limit, offset=offset)
    count = sum(t.count for t in totals)  # every subsidy of the institution, whatever the page
    following = offset + len(page) if offset + len(page) < count else None
    return Statement(institution_id, totals, by, page, count, following)
