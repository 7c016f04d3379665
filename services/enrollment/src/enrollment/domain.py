"""The enrolment rules as pure functions: no I/O, no clock, no HTTP.

A `decide_*` function answers None (allowed) or the domain error that refuses the command; the use case
raises it (or, for one row of a bulk upload, reports it). The kind of the error (`Invalid`, `Conflict`, ...)
says what sort of refusal it is; the HTTP edge alone turns a kind into a status code.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from enrollment.policy import Policy
from plan_events import Mode, Outcome, TargetGroup, Tier
from plan_runtime.errors import Conflict, DomainError, Forbidden, Invalid, NotFound


class EnrollmentStatus(StrEnum):
    """enrollments.status (its CHECK constraint lists exactly these)."""

    OPEN = "open"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


class InstitutionStatus(StrEnum):
    """institutions.status."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class InstitutionMode(StrEnum):
    """institutions.mode: how an accredited institution teaches."""

    ONLINE = "online"
    OFFLINE = "offline"
    BOTH = "both"


@dataclass(frozen=True)
class Institution:
    id: UUID
    name: str
    mode: InstitutionMode
    status: InstitutionStatus
    created_at: datetime
    status_seq: int = 0  # one more at each suspension or reinstatement

    @property
    def active(self) -> bool:
        return self.status == InstitutionStatus.ACTIVE


@dataclass(frozen=True)
class Enrollment:
    """One enrolment as its institution may see it (the masked ID number, never the hash)."""

    id: UUID
    trainee_id: str
    id_masked: str
    institution_id: UUID
    tier: Tier
    target_group: TargetGroup
    mode: Mode
    starts_on: date
    niche: str | None
    status: EnrollmentStatus
    completed_on: date | None
    passed: bool | None
    outcome: Outcome | None
    withdrawn_reason: str | None
    policy_version: str
    created_at: datetime


@dataclass
class History:
    """What is known of one person across all institutions (never shown to an institution)."""

    open: dict[Tier, UUID] = field(default_factory=dict)  # tier -> institution with an open enrolment
    passed: set[Tier] = field(default_factory=set)

    def enrol(self, tier: Tier, institution_id: UUID) -> None:
        self.open[tier] = institution_id


class Raced(Conflict):
    """Another write took the same person's open enrolment (or pass) of a tier first: decide again."""

    def __init__(self) -> None:
        super().__init__("raced", "another request enrolled the same person in the same tier at the same time")


def institution_not_found(institution_id: UUID) -> NotFound:
    return NotFound("institution_not_found", f"no institution {institution_id}", "institution_id")


def enrollment_not_found(enrollment_id: UUID) -> NotFound:
    """Another institution's enrolment is not found either: no leak."""
    return NotFound("enrollment_not_found", f"no enrolment {enrollment_id} at this institution", "enrollment_id")


def institution_suspended() -> Forbidden:
    return Forbidden("institution_suspended", "the institution is suspended and cannot enrol", "institution")


def decide_standing(institution: Institution | None) -> DomainError | None:
    """Only an accredited, active institution enrols."""
    if institution is None or not institution.active:
        return institution_suspended()
    return None


def decide_enrolment(tier: Tier, institution_id: UUID, history: History) -> DomainError | None:
    if tier in history.passed:
        return Conflict("tier_already_completed", f"the person has already passed the {tier} course", "tier")
    holder = history.open.get(tier)
    if holder == institution_id:
        return Conflict("already_enrolled", f"the person already has an open {tier} enrolment here", "tier")
    if holder is not None:  # never say where: that is another institution's business
        return Conflict(
            "enrolled_elsewhere", f"the person is enrolled in the {tier} tier at another institution", "tier"
        )
    prerequisite = tier.prerequisite
    if prerequisite is not None and prerequisite not in history.passed:
        return Conflict("tier_out_of_order", f"the {tier} tier needs a passed {prerequisite} course first", "tier")
    return None


# refusals that reveal something of a person's record at other institutions: each one is audited
REVEALING = frozenset({"enrolled_elsewhere", "tier_already_completed", "tier_out_of_order"})


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def decide_dates(starts_on: date, born: date, policy: Policy, today: date) -> DomainError | None:
    """An enrolment's course starts inside the plan's period, not in the future, for a person of training age."""
    period, ages = policy.period, policy.trainees
    if starts_on > today:
        return Invalid("date_in_future", f"starts_on {starts_on} is in the future", "starts_on")
    latest = period.last_day - timedelta(days=policy.min_course_days)  # the course must end inside the period
    if not period.starts_on <= starts_on <= latest:
        return Invalid(
            "outside_plan_period",
            f"courses of the plan start between {period.starts_on} and {latest}, not on {starts_on}",
            "starts_on",
        )
    age = age_on(born, starts_on)
    if not ages.min_age <= age <= ages.max_age:
        return Invalid(
            "age_out_of_range",
            f"the person is {age} when the course starts; the plan trains people aged {ages.min_age} to {ages.max_age}",
            "id_number",
        )
    return None


def _not_open(status: EnrollmentStatus) -> Conflict:
    return Conflict("enrollment_not_open", f"the enrolment is {status}, not open", "enrollment_id")


def decide_completion(
    status: EnrollmentStatus, starts_on: date, completed_on: date, policy: Policy, today: date
) -> DomainError | None:
    if status != EnrollmentStatus.OPEN:
        return _not_open(status)
    if completed_on > today:
        return Invalid("date_in_future", f"completed_on {completed_on} is in the future", "completed_on")
    if completed_on > policy.period.last_day:
        return Invalid(
            "outside_plan_period",
            f"courses of the plan end by {policy.period.last_day}, not on {completed_on}",
            "completed_on",
        )
    earliest = starts_on + timedelta(days=policy.min_course_days)
    if completed_on < earliest:
        return Invalid(
            "course_too_short",
            f"a course lasts at least {policy.min_course_days} days: completed_on must be on or "
            f"after {earliest.isoformat()}",
            "completed_on",
        )
    return None


def decide_withdrawal(status: EnrollmentStatus) -> DomainError | None:
    if status != EnrollmentStatus.OPEN:
        return _not_open(status)
    return None


def decide_outcome(status: EnrollmentStatus) -> DomainError | None:
    """An outcome (employed, own business, seeking) is reported, or corrected, after a completed course."""
    if status != EnrollmentStatus.COMPLETED:
        return Conflict("enrollment_not_completed", "an outcome follows a completed course", "enrollment_id")
    return None


def decide_status_change(current: InstitutionStatus, wanted: InstitutionStatus) -> bool:
    """Whether suspending or reinstating changes anything: asking for the current status is a no-op."""
    return current != wanted
