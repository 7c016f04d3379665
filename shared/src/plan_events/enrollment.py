"""Events the enrollment service publishes. No ID number, name or phone: `trainee_id` is pseudonymous."""

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from plan_events.envelope import Event
from plan_events.vocabulary import Mode, Outcome, TargetGroup, Tier


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
