"""The subsidy rules as pure functions: no I/O, no clock. The caller loads a Standing and saves the result."""

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from funding.policy import Policy
from plan_events import SubsidyRejection, Tier


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
    status: str | None = None  # the claim's subsidy status so far (None: nothing known of it yet)
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
    """Set money aside when an enrolment in a subsidised tier is accepted, if there is any."""
    amount = policy.rate(claim.tier)
    if amount is None or standing.reserved_for_claim or standing.already_paid or standing.suspension:
        return None
    if standing.available < amount or _over_cap(claim, standing, policy, amount):
        return None  # no reservation; the completion will be decided on what is left then
    return Reserve(claim, amount, policy.version)


def decide_subsidy(
    claim: Claim, passed: bool, completed_on: date, standing: Standing, policy: Policy, today: date
) -> Approved | Rejected | Held | None:
    """The whole subsidy rule for a completion. None: the tier is not paid from this fund.

    Funding checks the plan's period itself (defence in depth: it does not trust enrollment's checks). A
    suspended institution's passed completion is held, not lost: decided again on reinstatement."""
    amount = policy.rate(claim.tier)
    held = standing.reserved_for_claim

    def reject(reason: SubsidyRejection) -> Rejected:
        return Rejected(claim, reason, policy.version, held)

    if amount is None:
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


def _over_cap(claim: Claim, standing: Standing, policy: Policy, amount: int) -> bool:
    cap = policy.institution_cap(claim.institution_id)
    return cap is not None and standing.institution_committed + amount > cap
