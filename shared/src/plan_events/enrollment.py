"""Events the enrollment service publishes. No ID number, name or phone: `trainee_id` is pseudonymous."""

from datetime import date
from typing import ClassVar, Literal, TypeAlias
from uuid import UUID

from pydantic import Field

from plan_events.envelope import Event
from plan_events.vocabulary import Mode, Outcome, TargetGroup, Tier

InstitutionStatus: TypeAlias = Literal["active", "suspended"]


class TraineeEnrolled(Event):
    """An institution's enrolment of a person in a tier was accepted."""

    topic: ClassVar[str] = "trainee-enrolled"
    type: Literal["trainee-enrolled"] = "trainee-enrolled"
    version: Literal[1] = 1
    enrollment_id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier
    target_group: TargetGroup
    mode: Mode
    starts_on: date
    niche: str | None = Field(default=None, max_length=200)


class TierCompleted(Event):
    """A trainee finished a tier's course; `passed` says whether the assessment was passed."""

    topic: ClassVar[str] = "tier-completed"
    type: Literal["tier-completed"] = "tier-completed"
    version: Literal[1] = 1
    enrollment_id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier
    target_group: TargetGroup
    completed_on: date
    passed: bool
    outcome: Outcome | None = None
    # additive (v1): the institution's standing when the completion was recorded, so that funding holds a
    # suspended institution's completions whichever topic it reads first (see InstitutionSuspended)
    institution_status: InstitutionStatus | None = None
    institution_status_seq: int | None = Field(default=None, ge=0, le=2**31 - 1)


class OutcomeReported(Event):
    """After a passed course, the institution reported (or corrected) what became of the trainee."""

    topic: ClassVar[str] = "outcome-reported"
    type: Literal["outcome-reported"] = "outcome-reported"
    version: Literal[1] = 1
    enrollment_id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier
    outcome: Outcome


class EnrollmentWithdrawn(Event):
    """An open enrolment was withdrawn before completion."""

    topic: ClassVar[str] = "enrollment-withdrawn"
    type: Literal["enrollment-withdrawn"] = "enrollment-withdrawn"
    version: Literal[1] = 1
    enrollment_id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier
    reason: str = Field(max_length=500)


class InstitutionSuspended(Event):
    """The Bureau suspended an institution: it enrols no one and is paid nothing until reinstated.

    `status_seq` grows with every change of the institution's status; a consumer keeps the status with
    the highest sequence it has seen (from these events or from `tier-completed`), so the order in which
    it reads the topics does not matter. The key is the institution id."""

    topic: ClassVar[str] = "institution-suspended"
    type: Literal["institution-suspended"] = "institution-suspended"
    version: Literal[1] = 1
    institution_id: UUID
    status_seq: int = Field(ge=1, le=2**31 - 1)
    reason: str = Field(max_length=500)


class InstitutionReinstated(Event):
    """The Bureau reinstated a suspended institution: its held completions may now be decided."""

    topic: ClassVar[str] = "institution-reinstated"
    type: Literal["institution-reinstated"] = "institution-reinstated"
    version: Literal[1] = 1
    institution_id: UUID
    status_seq: int = Field(ge=1, le=2**31 - 1)
    reason: str = Field(max_length=500)
