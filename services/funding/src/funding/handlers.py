"""Use cases: one short script per incoming event or finance command."""

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from funding.domain import Approved, Claim, Held, Rejected, decide_reservation, decide_subsidy, release
from funding.policy import Policy
from funding.store import DECIDED, SETTLED, FundingStore
from plan_events import (
    EnrollmentWithdrawn,
    Event,
    InstitutionReinstated,
    InstitutionSuspended,
    SubsidyApproved,
    SubsidyRejected,
    SubsidyReversed,
    TierCompleted,
    TraineeEnrolled,
)
from plan_events.calendar import plan_today
from plan_runtime import Connection, emit
from plan_runtime.errors import ApiError

SOURCE = "funding"


def claim_of(event: TraineeEnrolled | TierCompleted | EnrollmentWithdrawn) -> Claim:
    return Claim(event.enrollment_id, event.trainee_id, event.institution_id, event.tier)


async def on_trainee_enrolled(conn: Connection, event: TraineeEnrolled, policy: Policy) -> list[Event]:
    """Reserve the rate for an enrolment in a subsidised tier (if nothing was decided for it yet)."""
    if policy.rate(event.tier) is None:
        return []  # basic: no query at all, it is most of the traffic
    store, claim = FundingStore(conn), claim_of(event)
    standing = await store.standing(claim, capped=policy.capped)
    if standing.status is not None:
        return []  # already reserved, or the completion or withdrawal came first
    reservation = decide_reservation(claim, standing, policy)
    if reservation:
        await store.reserve(reservation, caused_by=event.event_id)
    return []


async def on_tier_completed(
    conn: Connection, event: TierCompleted, policy: Policy, today: date | None = None
) -> list[Event]:
    """Decide the subsidy for a completion; returns the decision's event for the outbox."""
    if policy.rate(event.tier) is None:
        return []  # a basic completion: not paid from this fund, nothing to decide or announce
    store, claim = FundingStore(conn), claim_of(event)
    if event.institution_status is not None and event.institution_status_seq is not None:
        await store.note_institution(event.institution_id, event.institution_status, event.institution_status_seq, None)
    return await _decide(store, claim, event.passed, event.completed_on, policy, today or plan_today(), event)


async def _decide(
    store: FundingStore, claim: Claim, passed: bool, completed_on: date, policy: Policy, today: date, cause: Event
) -> list[Event]:
    standing = await store.standing(claim, capped=policy.capped, year=policy.envelope_year(completed_on))
    if standing.status in DECIDED or (standing.status == "held" and standing.suspension):
        return []  # the same completion again under a new event id: decided once; held while suspended
    decision = decide_subsidy(claim, passed, completed_on, standing, policy, today)
    if decision is None:
        return []
    if isinstance(decision, Held):
        await store.hold(decision, completed_on, passed, caused_by=cause.event_id)
        return []
    if isinstance(decision, Approved):
        subsidy_id = await store.approve(decision, completed_on, caused_by=cause.event_id)
        return [approved_event(decision, subsidy_id, cause)]
    await store.reject(decision, completed_on, caused_by=cause.event_id)
    return [rejected_event(decision, cause)]


async def on_institution_suspended(conn: Connection, event: InstitutionSuspended, policy: Policy) -> list[Event]:
    """From now on the institution's completions are held; its reservations stay until finance releases them."""
    await FundingStore(conn).note_institution(event.institution_id, "suspended", event.status_seq, event.reason)
    return []


async def on_institution_reinstated(
    conn: Connection, event: InstitutionReinstated, policy: Policy, today: date | None = None
) -> list[Event]:
    """Decide every completion held during the suspension, each as it would have been decided then."""
    store = FundingStore(conn)
    if await store.note_institution(event.institution_id, "active", event.status_seq, event.reason) != "active":
        return []  # a newer suspension is already known: stay held
    await store.lock_fund()  # locks in one order everywhere: institution, fund, subsidies
    produced: list[Event] = []
    for claim, passed, completed_on in await store.held_claims(event.institution_id):
        # the decision's cause is the reinstatement that released it
        produced += await _decide(store, claim, passed, completed_on, policy, today or plan_today(), event)
    return produced


async def on_enrollment_withdrawn(conn: Connection, event: EnrollmentWithdrawn, policy: Policy) -> list[Event]:
    """Give a withdrawn enrolment's reservation back; remember the withdrawal if it came first."""
    if policy.rate(event.tier) is None:
        return []
    store, claim = FundingStore(conn), claim_of(event)
    standing = await store.standing(claim, capped=policy.capped)
    if standing.status in SETTLED:
        return []
    await store.withdraw(claim, release(claim, standing), caused_by=event.event_id)
    return []


def approved_event(decision: Approved, subsidy_id: UUID, cause: Event) -> SubsidyApproved:
    claim = decision.claim
    return SubsidyApproved.create(
        source=SOURCE,
        subject=claim.trainee_id,
        occurred_at=datetime.now(UTC),
        caused_by=cause,
        subsidy_id=subsidy_id,
        enrollment_id=claim.enrollment_id,
        trainee_id=claim.trainee_id,
        institution_id=claim.institution_id,
        tier=claim.tier,
        amount_yuan=decision.amount,
        policy_version=decision.policy_version,
    )


def rejected_event(decision: Rejected, cause: Event) -> SubsidyRejected:
    claim = decision.claim
    return SubsidyRejected.create(
        source=SOURCE,
        subject=claim.trainee_id,
        occurred_at=datetime.now(UTC),
        caused_by=cause,
        enrollment_id=claim.enrollment_id,
        trainee_id=claim.trainee_id,
        institution_id=claim.institution_id,
        tier=claim.tier,
        reason=decision.reason,
        policy_version=decision.policy_version,
    )


async def release_reservations(conn: Connection, institution_id: UUID, actor: str, reason: str) -> dict[str, object]:
    """Finance gives a suspended institution's reservations back to the fund (its held completions stay held)."""
    async with conn.transaction():
        store = FundingStore(conn)
        known = await store.institution(institution_id, lock=True)  # a reinstatement waits for this release
        if known is None or known["status"] != "suspended":
            raise ApiError(
                409,
                "institution_not_suspended",
                "only a suspended institution's reservations can be released",
                "institution_id",
            )
        count, yuan = await store.release_reservations(institution_id, actor, reason)
        return {"institution_id": institution_id, "released_count": count, "released_yuan": yuan}


async def _not_suspended(store: FundingStore, institution_id: UUID) -> None:
    """A suspended institution is paid nothing while suspended (domain.md): no batch, no payment."""
    known = await store.institution(institution_id, lock=True)
    if known is not None and known["status"] == "suspended":
        raise ApiError(
            409,
            "institution_suspended",
            "the institution is suspended: nothing is paid until it is reinstated",
            "institution_id",
        )


async def create_payment_batch(
    conn: Connection, institution_id: UUID, declared_count: int, declared_total: int, actor: str
) -> dict[str, object]:
    """Group the institution's approved, unbatched subsidies; the declared figures must match."""
    async with conn.transaction():
        store = FundingStore(conn)
        await _not_suspended(store, institution_id)
        subsidies = await store.unbatched_approved(institution_id)
        if not subsidies:
            raise ApiError(
                409, "nothing_to_pay", "the institution has no approved, unbatched subsidy", "institution_id"
            )
        count, total = len(subsidies), sum(amount for _, amount in subsidies)
        if (count, total) != (declared_count, declared_total):
            raise ApiError(
                409,
                "totals_mismatch",
                f"declared {declared_count} subsidies / {declared_total} yuan, the ledger has {count} / {total}",
                "declared_total_yuan" if count == declared_count else "declared_count",
            )
        batch_id = uuid4()
        await store.create_batch(batch_id, institution_id, [s for s, _ in subsidies], total, actor)
        return {
            "batch_id": batch_id,
            "institution_id": institution_id,
            "subsidy_count": count,
            "total_yuan": total,
            "status": "open",
        }


async def pay_batch(conn: Connection, batch_id: UUID, declared_total: int, actor: str) -> dict[str, object]:
    async with conn.transaction():
        store = FundingStore(conn)
        batch = await store.batch(batch_id, lock=True)
        if batch is None:
            raise ApiError(404, "batch_not_found", f"no payment batch {batch_id}", "batch_id")
        if batch["status"] == "paid":
            raise ApiError(409, "batch_already_paid", "the batch is already paid", "batch_id")
        await _not_suspended(store, batch["institution_id"])
        if batch["total_yuan"] != declared_total:
            raise ApiError(
                409,
                "totals_mismatch",
                f"the batch totals {batch['total_yuan']} yuan, not {declared_total}",
                "declared_total_yuan",
            )
        await store.pay_batch(batch_id, actor)
        return {**batch, "status": "paid"}


async def reverse_subsidy(conn: Connection, subsidy_id: UUID, actor: str, reason: str) -> dict[str, object]:
    """Undo an approved (unpaid, unbatched) subsidy: the money returns to the fund, an event says so."""
    async with conn.transaction():
        store = FundingStore(conn)
        subsidy = await store.subsidy(subsidy_id)
        if subsidy is None:
            raise ApiError(404, "subsidy_not_found", f"no subsidy {subsidy_id}", "subsidy_id")
        if subsidy["status"] != "approved":
            raise ApiError(
                409,
                "not_reversible",
                f"only an approved subsidy can be reversed; this one is {subsidy['status']}",
                "subsidy_id",
            )
        if subsidy["batch_id"] is not None:
            raise ApiError(409, "in_payment_batch", "the subsidy is in a payment batch", "subsidy_id")
        await store.reverse(subsidy_id, subsidy["amount_yuan"], actor, reason)
        await emit(
            conn,
            [
                SubsidyReversed.create(
                    source=SOURCE,
                    subject=subsidy["trainee_id"],
                    occurred_at=datetime.now(UTC),
                    subsidy_id=subsidy_id,
                    trainee_id=subsidy["trainee_id"],
                    institution_id=subsidy["institution_id"],
                    tier=subsidy["tier"],
                    amount_yuan=subsidy["amount_yuan"],
                    reason=reason,
                )
            ],
        )
        return {**subsidy, "status": "reversed", "reason": reason}
