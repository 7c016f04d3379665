"""The subsidy rules as pure functions: no I/O, no clock. The caller loads a Standing and saves the result.

Also the words the rules are written in: the statuses (pinned to the SQL CHECK constraints by a test), the
typed rows the store answers with, and finance's command rules (`decide_*`), which raise domain errors.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from funding.policy import Policy
from plan_events import SubsidyRejection, Tier
from plan_runtime.errors import Conflict, NotFound


class SubsidyStatus(StrEnum):
    """Where a claim stands (subsidies.status)."""

    RESERVED = "reserved"  # money set aside for an open enrolment
    RELEASED = "released"  # finance gave a suspended institution's reservation back
    WITHDRAWN = "withdrawn"
    HELD = "held"  # a passed completion of a suspended institution, decided on reinstatement
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"
    REVERSED = "reversed"


class BatchStatus(StrEnum):
    """payment_batches.status"""

    OPEN = "open"
    PAID = "paid"


class InstitutionStatus(StrEnum):
    """institutions.status: an institution's newest status, as funding was told it."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class EntryKind(StrEnum):
    """ledger.entry: the kinds of movement of money."""

    RESERVE = "reserve"
    RELEASE = "release"
    APPROVE = "approve"
    REVERSE = "reverse"
    PAY = "pay"


S = SubsidyStatus
COMMITTED = frozenset({S.RESERVED, S.HELD, S.APPROVED, S.PAID})  # money the fund has promised
SPENT = frozenset({S.APPROVED, S.PAID})  # the person's subsidy for the tier (one per person per tier, ever)
SETTING_ASIDE = frozenset({S.RESERVED, S.HELD})  # what may hold a reservation
DECIDED = frozenset({S.APPROVED, S.REJECTED, S.PAID, S.REVERSED, S.WITHDRAWN})
SETTLED = DECIDED | {S.HELD}  # a withdrawal seen in one of these states changes nothing


@dataclass(frozen=True)
class Claim:
    """An institution's claim for one trainee's course in one tier."""

    enrollment_id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier


@dataclass(frozen=True)
class Standing:
    """What the ledger says right now about a claim (loaded under the fund's lock)."""

    reserved_for_claim: int  # yuan already set aside for this enrolment
    already_paid: bool  # the same person already has an approved subsidy for this tier
    available: int  # fund - reserved - approved
    institution_committed: int  # reserved + approved for the claim's institution, this claim excluded
    year_approved: int = 0  # approved in the completion's year
    status: SubsidyStatus | None = None  # the claim's subsidy status so far (None: nothing known of it yet)
    suspension: str | None = None  # why the claim's institution is suspended (None: it is active)


@dataclass(frozen=True)
class Reserve:
    claim: Claim
    amount: int
    policy_version: str


@dataclass(frozen=True)
class Release:
    claim: Claim
    amount: int


@dataclass(frozen=True)
class Approved:
    claim: Claim
    amount: int
    policy_version: str
    released: int  # the reservation this approval consumes


@dataclass(frozen=True)
class Held:
    """Not decided yet: the institution is suspended. Its reservation (if any) stays until finance releases it."""

    claim: Claim
    reason: str
    policy_version: str
    reserved: int


@dataclass(frozen=True)
class Rejected:
    claim: Claim
    reason: SubsidyRejection
    policy_version: str
    released: int  # the reservation this rejection frees


def decide_reservation(claim: Claim, standing: Standing, policy: Policy) -> Reserve | None:
    """Set money aside when an enrolment in a subsidised tier is accepted, if there is any (and nothing was
    decided for it yet: already reserved, or its completion or withdrawal came first)."""
    amount = policy.rate(claim.tier)
    if amount is None or standing.status is not None:
        return None
    if standing.reserved_for_claim or standing.already_paid or standing.suspension:
        return None
    if standing.available < amount or _over_cap(claim, standing, policy, amount):
        return None  # no reservation; the completion will be decided on what is left then
    return Reserve(claim, amount, policy.version)


def decide_subsidy(
    claim: Claim, passed: bool, completed_on: date, standing: Standing, policy: Policy, today: date
) -> Approved | Rejected | Held | None:
    """The whole subsidy rule for a completion. None: the tier is not paid from this fund, or nothing changes
    (the same completion again under a new event id is decided once; a held one stays held while suspended).

    Funding checks the plan's period itself (defence in depth: it does not trust enrollment's checks). A
    suspended institution's passed completion is held, not lost: decided again on reinstatement."""
    amount = policy.rate(claim.tier)
    held = standing.reserved_for_claim

    def reject(reason: SubsidyRejection) -> Rejected:
        return Rejected(claim, reason, policy.version, held)

    if amount is None:
        return None
    if standing.status in DECIDED or (standing.status == S.HELD and standing.suspension is not None):
        return None
    if not policy.period.holds(completed_on, today):
        return reject(SubsidyRejection.OUTSIDE_PLAN_PERIOD)
    if not passed:
        return reject(SubsidyRejection.ASSESSMENT_FAILED)
    if standing.suspension is not None:
        return Held(claim, standing.suspension, policy.version, held)
    if standing.already_paid:
        return reject(SubsidyRejection.DUPLICATE_CLAIM)
    envelope = policy.year_envelopes_yuan.get(completed_on.year)
    if envelope is not None and standing.year_approved + amount > envelope:
        return reject(SubsidyRejection.FUND_EXHAUSTED)
    if held < amount:  # not (fully) reserved: it must fit in what is available now
        if standing.available + held < amount:
            return reject(SubsidyRejection.FUND_EXHAUSTED)
        if _over_cap(claim, standing, policy, amount):
            return reject(SubsidyRejection.INSTITUTION_CAP_REACHED)
    return Approved(claim, amount, policy.version, held)


def release(claim: Claim, standing: Standing) -> Release | None:
    """A withdrawn enrolment gives its reservation back (no event: nothing was claimed)."""
    return Release(claim, standing.reserved_for_claim) if standing.reserved_for_claim else None


@dataclass(frozen=True)
class Withdrawal:
    claim: Claim
    release: Release | None  # the reservation it gives back, if any


def decide_withdrawal(claim: Claim, standing: Standing) -> Withdrawal | None:
    """A withdrawal is remembered (even before its enrolment arrives) unless the claim is settled already."""
    if standing.status in SETTLED:
        return None
    return Withdrawal(claim, release(claim, standing))


def _over_cap(claim: Claim, standing: Standing, policy: Policy, amount: int) -> bool:
    cap = policy.institution_cap(claim.institution_id)
    return cap is not None and standing.institution_committed + amount > cap


# --- the ledger as the store answers it -------------------------------------------------------


@dataclass(frozen=True)
class FundPosition:
    total: int
    reserved: int
    approved: int
    paid: int

    @property
    def available(self) -> int:
        return self.total - self.reserved - self.approved


@dataclass(frozen=True)
class Subsidy:
    """A claim's row: its status, the yuan set aside or approved, and why."""

    id: UUID
    enrollment_id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier
    status: SubsidyStatus
    amount_yuan: int
    reason: str | None
    policy_version: str | None
    completed_on: date | None
    batch_id: UUID | None
    decided_at: datetime | None
    passed: bool | None
    created_at: datetime


@dataclass(frozen=True)
class LedgerLine:
    entry: EntryKind
    amount_yuan: int
    policy_version: str | None
    actor: str
    reason: str | None
    caused_by: UUID | None
    at: datetime


@dataclass(frozen=True)
class Total:
    """Count and yuan of one group of subsidies; `tier` and `reason` are None unless grouped by them."""

    status: SubsidyStatus
    count: int
    amount_yuan: int
    tier: Tier | None = None
    reason: str | None = None


@dataclass(frozen=True)
class KnownInstitution:
    """An institution's newest status as funding was told it."""

    institution_id: UUID
    status: InstitutionStatus
    status_seq: int
    reason: str | None
    changed_at: datetime


@dataclass(frozen=True)
class HeldClaim:
    """A completion held while its institution was suspended: what it said, to decide it later."""

    claim: Claim
    passed: bool
    completed_on: date


@dataclass(frozen=True)
class Payable:
    """An approved subsidy not in a payment batch yet."""

    subsidy_id: UUID
    amount_yuan: int


@dataclass(frozen=True)
class PaymentBatch:
    id: UUID
    institution_id: UUID
    subsidy_count: int
    total_yuan: int
    status: BatchStatus
    created_by: str
    created_at: datetime
    paid_by: str | None
    paid_at: datetime | None


@dataclass(frozen=True)
class ApprovalSpan:
    """The first and last completion date with an approval, and the yuan approved in between."""

    first: date | None
    last: date | None
    approved: int


# --- finance's commands: the rules, without I/O ---------------------------------------------------


def burn_rate(span: ApprovalSpan) -> float | None:
    """Approved yuan per day of completions so far (None before the first approval)."""
    if not (span.first and span.last and span.approved):
        return None
    return span.approved / ((span.last - span.first).days + 1)


def exhaustion(last: date | None, available: int, rate: float | None) -> date | None:
    """When `available` runs out at `rate` yuan a day after `last`; None when never, or past the calendar."""
    if not (rate and last):
        return None
    days = available / rate
    if days >= (date.max - last).days:
        return None
    return last + timedelta(days=days)


def suspended(institution: KnownInstitution | None) -> bool:
    return institution is not None and institution.status == InstitutionStatus.SUSPENDED


def _refuse_if_suspended(institution: KnownInstitution | None) -> None:
    """A suspended institution is paid nothing while suspended (domain.md): no batch, no payment."""
    if suspended(institution):
        raise Conflict(
            "institution_suspended",
            "the institution is suspended: nothing is paid until it is reinstated",
            "institution_id",
        )


def decide_release(institution: KnownInstitution | None) -> None:
    """Only a suspended institution's reservations go back to the fund."""
    if not suspended(institution):
        raise Conflict(
            "institution_not_suspended",
            "only a suspended institution's reservations can be released",
            "institution_id",
        )


@dataclass(frozen=True)
class NewBatch:
    """A payment batch to create: the institution's approved, unbatched subsidies."""

    institution_id: UUID
    subsidy_ids: list[UUID]
    total_yuan: int

    @property
    def subsidy_count(self) -> int:
        return len(self.subsidy_ids)


def decide_payment_batch(
    institution_id: UUID,
    institution: KnownInstitution | None,
    payable: list[Payable],
    declared_count: int,
    declared_total: int,
) -> NewBatch:
    """Group the institution's approved, unbatched subsidies; the figures finance declares must match."""
    _refuse_if_suspended(institution)
    if not payable:
        raise Conflict("nothing_to_pay", "the institution has no approved, unbatched subsidy", "institution_id")
    count, total = len(payable), sum(p.amount_yuan for p in payable)
    if (count, total) != (declared_count, declared_total):
        raise Conflict(
            "totals_mismatch",
            f"declared {declared_count} subsidies / {declared_total} yuan, the ledger has {count} / {total}",
            "declared_total_yuan" if count == declared_count else "declared_count",
        )
    return NewBatch(institution_id, [p.subsidy_id for p in payable], total)


def batch_not_found(batch_id: UUID) -> NotFound:
    return NotFound("batch_not_found", f"no payment batch {batch_id}", "batch_id")


def decide_payment(batch: PaymentBatch, institution: KnownInstitution | None, declared_total: int) -> None:
    """A batch is paid once, never while its institution is suspended, and for exactly its total."""
    if batch.status == BatchStatus.PAID:
        raise Conflict("batch_already_paid", "the batch is already paid", "batch_id")
    _refuse_if_suspended(institution)
    if batch.total_yuan != declared_total:
        raise Conflict(
            "totals_mismatch",
            f"the batch totals {batch.total_yuan} yuan, not {declared_total}",
            "declared_total_yuan",
        )


def decide_reversal(subsidy_id: UUID, subsidy: Subsidy | None) -> Subsidy:
    """Only an approved subsidy outside any payment batch is reversed; returns it."""
    if subsidy is None:
        raise NotFound("subsidy_not_found", f"no subsidy {subsidy_id}", "subsidy_id")
    if subsidy.status != SubsidyStatus.APPROVED:
        raise Conflict(
            "not_reversible",
            f"only an approved subsidy can be reversed; this one is {subsidy.status}",
            "subsidy_id",
        )
    if subsidy.batch_id is not None:
        raise Conflict("in_payment_batch", "the subsidy is in a payment batch", "subsidy_id")
    return subsidy
