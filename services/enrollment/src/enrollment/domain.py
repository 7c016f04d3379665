"""The enrolment rules as pure functions: no I/O, no clock."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from uuid import UUID

from enrollment.policy import Policy
from plan_events import Tier


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused: a stable code, the field or rule at fault, a message for people."""

    code: str
    field: str
    message: str
    status: int = 409


@dataclass
class History:
    """What is known of one person across all institutions (never shown to an institution)."""

    open: dict[Tier, UUID] = field(default_factory=dict)  # tier -> institution with an open enrolment
    passed: set[Tier] = field(default_factory=set)

    def enrol(self, tier: Tier, institution_id: UUID) -> None:
        self.open[tier] = institution_id


def decide_enrolment(tier: Tier, institution_id: UUID, history: History) -> Refusal | None:
    if tier in history.passed:
        return Refusal("tier_already_completed", "tier", f"the person has already passed the {tier} course")
    holder = history.open.get(tier)
    if holder == institution_id:
        return Refusal("already_enrolled", "tier", f"the person already has an open {tier} enrolment here")
    if holder is not None:  # never say where: that is another institution's business
        return Refusal(
            "enrolled_elsewhere", "tier", f"the person is enrolled in the {tier} tier at another institution"
        )
    prerequisite = tier.prerequisite
    if prerequisite is not None and prerequisite not in history.passed:
        return Refusal("tier_out_of_order", "tier", f"the {tier} tier needs a passed {prerequisite} course first")
    return None


def decide_completion(status: str, starts_on: date, completed_on: date, policy: Policy) -> Refusal | None:
    if status != "open":
        return Refusal("enrollment_not_open", "enrollment_id", f"the enrolment is {status}, not open")
    earliest = starts_on + timedelta(days=policy.min_course_days)
    if completed_on < earliest:
        return Refusal(
            "course_too_short",
            "completed_on",
            f"a course lasts at least {policy.min_course_days} days: completed_on must be on or "
            f"after {earliest.isoformat()}",
            422,
        )
    return None


def decide_withdrawal(status: str) -> Refusal | None:
    if status != "open":
        return Refusal("enrollment_not_open", "enrollment_id", f"the enrolment is {status}, not open")
    return None
