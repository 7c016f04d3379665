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


# refusals that reveal something of a person's record at other institutions: each one is audited
REVEALING = frozenset({"enrolled_elsewhere", "tier_already_completed", "tier_out_of_order"})


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def decide_dates(starts_on: date, born: date, policy: Policy, today: date) -> Refusal | None:
    """An enrolment's course starts inside the plan's period, not in the future, for a person of training age."""
    period, ages = policy.period, policy.trainees
    if starts_on > today:
        return Refusal("date_in_future", "starts_on", f"starts_on {starts_on} is in the future", 422)
    latest = period.last_day - timedelta(days=policy.min_course_days)  # the course must end inside the period
    if not period.starts_on <= starts_on <= latest:
        return Refusal(
            "outside_plan_period",
            "starts_on",
            f"courses of the plan start between {period.starts_on} and {latest}, not on {starts_on}",
            422,
        )
    age = age_on(born, starts_on)
    if not ages.min_age <= age <= ages.max_age:
        return Refusal(
            "age_out_of_range",
            "id_number",
            f"the person is {age} when the course starts; the plan trains people aged {ages.min_age} to {ages.max_age}",
            422,
        )
    return None


def decide_completion(status: str, starts_on: date, completed_on: date, policy: Policy, today: date) -> Refusal | None:
    if status != "open":
        return Refusal("enrollment_not_open", "enrollment_id", f"the enrolment is {status}, not open")
    if completed_on > today:
        return Refusal("date_in_future", "completed_on", f"completed_on {completed_on} is in the future", 422)
    if completed_on > policy.period.last_day:
        return Refusal(
            "outside_plan_period",
            "completed_on",
            f"courses of the plan end by {policy.period.last_day}, not on {completed_on}",
            422,
        )
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
