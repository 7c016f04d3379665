"""Vivid test data for events."""

import uuid
from datetime import UTC, date, datetime

from plan_events import Mode, TargetGroup, Tier, TraineeEnrolled

VILLAGE_ROOM = uuid.UUID("00000000-0000-4000-8000-00000000a001")  # an offline institution


def enrolled(
    trainee: str = "trainee-cashmere-host",
    *,
    niche: str | None = "cashmere and fur",
    enrollment_id: uuid.UUID | None = None,
    tier: Tier = Tier.BASIC,
) -> TraineeEnrolled:
    return TraineeEnrolled.create(
        source="enrollment",
        subject=trainee,
        occurred_at=datetime(2020, 8, 8, 9, 0, tzinfo=UTC),
        enrollment_id=enrollment_id or uuid.uuid4(),
        trainee_id=trainee,
        institution_id=VILLAGE_ROOM,
        tier=tier,
        target_group=TargetGroup.COLLEGE_GRADUATE,
        mode=Mode.OFFLINE,
        starts_on=date(2020, 8, 8),
        niche=niche,
    )
