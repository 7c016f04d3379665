"""Events as the enrollment service would publish them, with vivid names."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from plan_events import (
    EnrollmentWithdrawn,
    InstitutionReinstated,
    InstitutionSuspended,
    Mode,
    SubsidyApproved,
    TargetGroup,
    Tier,
    TierCompleted,
    TraineeEnrolled,
)

VILLAGE_ROOM = uuid.UUID("00000000-0000-4000-8000-00000000a001")  # an offline institution
CLOUD_STUDIO = uuid.UUID("00000000-0000-4000-8000-00000000b002")  # an online one
AUG_8 = date(2020, 8, 8)
NOW = datetime(2020, 8, 8, 9, 0, tzinfo=UTC)


def person(label: str = "cashmere-host") -> str:
    """A fresh pseudonymous trainee id, so tests never see each other's people."""
    return f"{label}-{uuid.uuid4().hex[:8]}"


def enrolment(
    trainee: str | None = None,
    tier: Tier = Tier.PROFESSIONAL,
    institution: uuid.UUID = VILLAGE_ROOM,
    enrollment_id: uuid.UUID | None = None,
    niche: str | None = "cashmere and fur",
) -> TraineeEnrolled:
    trainee = trainee or person()
    return TraineeEnrolled.create(
        source="enrollment",
        subject=trainee,
        occurred_at=NOW,
        enrollment_id=enrollment_id or uuid.uuid4(),
        trainee_id=trainee,
        institution_id=institution,
        tier=tier,
        target_group=TargetGroup.RURAL_HOUSEHOLD,
        mode=Mode.OFFLINE,
        starts_on=AUG_8,
        niche=niche,
    )


def completion(enrolled: TraineeEnrolled, passed: bool = True, days: int = 15) -> TierCompleted:
    return TierCompleted.create(
        source="enrollment",
        subject=enrolled.trainee_id,
        occurred_at=NOW + timedelta(days=days),
        caused_by=enrolled,
        enrollment_id=enrolled.enrollment_id,
        trainee_id=enrolled.trainee_id,
        institution_id=enrolled.institution_id,
        tier=enrolled.tier,
        target_group=enrolled.target_group,
        completed_on=enrolled.starts_on + timedelta(days=days),
        passed=passed,
    )


def withdrawal(enrolled: TraineeEnrolled) -> EnrollmentWithdrawn:
    return EnrollmentWithdrawn.create(
        source="enrollment",
        subject=enrolled.trainee_id,
        occurred_at=NOW + timedelta(days=3),
        enrollment_id=enrolled.enrollment_id,
        trainee_id=enrolled.trainee_id,
        institution_id=enrolled.institution_id,
        tier=enrolled.tier,
        reason="moved away",
    )


def approval(done: TierCompleted, amount: int = 5000) -> SubsidyApproved:
    """Funding's approval of a completion, as funding would publish it."""
    return SubsidyApproved.create(
        source="funding",
        subject=done.trainee_id,
        occurred_at=done.occurred_at,
        caused_by=done,
        subsidy_id=uuid.uuid4(),
        enrollment_id=done.enrollment_id,
        trainee_id=done.trainee_id,
        institution_id=done.institution_id,
        tier=done.tier,
        amount_yuan=amount,
        policy_version="2020-08-v2",
    )


def suspension(institution: uuid.UUID, seq: int, reason: str = "audit of attendance") -> InstitutionSuspended:
    return InstitutionSuspended.create(**_status_change(institution, seq, reason))


def reinstatement(institution: uuid.UUID, seq: int, reason: str = "audit passed") -> InstitutionReinstated:
    return InstitutionReinstated.create(**_status_change(institution, seq, reason))


def _status_change(institution: uuid.UUID, seq: int, reason: str) -> dict[str, Any]:
    return {
        "source": "enrollment",
        "subject": str(institution),
        "occurred_at": NOW,
        "institution_id": institution,
        "status_seq": seq,
        "reason": reason,
    }
