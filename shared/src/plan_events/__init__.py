"""Event contracts: the only code every service imports from another team."""

from plan_events.catalogue import EVENTS, TOPICS, InvalidEvent, Undecodable, UnknownEvent, decode
from plan_events.dead_letter import MessageDeadLettered
from plan_events.enrollment import (
    EnrollmentWithdrawn,
    InstitutionReinstated,
    InstitutionSuspended,
    OutcomeReported,
    TierCompleted,
    TraineeEnrolled,
)
from plan_events.envelope import Event
from plan_events.funding import SubsidyApproved, SubsidyRejected, SubsidyReversed
from plan_events.talent_card import GreenCardEligible
from plan_events.vocabulary import (
    EligibilityRoute,
    Mode,
    Outcome,
    SubsidyRejection,
    TargetGroup,
    Tier,
)

__all__ = [
    "EVENTS",
    "TOPICS",
    "EligibilityRoute",
    "EnrollmentWithdrawn",
    "Event",
    "GreenCardEligible",
    "InstitutionReinstated",
    "InstitutionSuspended",
    "InvalidEvent",
    "MessageDeadLettered",
    "Mode",
    "Outcome",
    "OutcomeReported",
    "SubsidyApproved",
    "SubsidyRejected",
    "SubsidyRejection",
    "SubsidyReversed",
    "TargetGroup",
    "Tier",
    "TierCompleted",
    "TraineeEnrolled",
    "Undecodable",
    "UnknownEvent",
    "decode",
]
