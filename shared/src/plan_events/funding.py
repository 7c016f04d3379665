"""Events the funding service publishes. Money is integer yuan."""

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from plan_events.envelope import Event
from plan_events.vocabulary import SubsidyRejection, Tier


class SubsidyApproved(Event):
    """Finance approved the institution's subsidy for a completion."""

    topic: ClassVar[str] = "subsidy-approved"
    type: Literal["subsidy-approved"] = "subsidy-approved"
    version: Literal[1] = 1
    subsidy_id: UUID
    enrollment_id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier
    amount_yuan: int = Field(gt=0)
    policy_version: str


class SubsidyRejected(Event):
    """Finance refused a subsidy for a completion, with the reason."""

    topic: ClassVar[str] = "subsidy-rejected"
    type: Literal["subsidy-rejected"] = "subsidy-rejected"
    version: Literal[1] = 1
    enrollment_id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier
    reason: SubsidyRejection
    policy_version: str


class SubsidyReversed(Event):
    """An approved subsidy was reversed; its amount went back to the fund."""

    topic: ClassVar[str] = "subsidy-reversed"
    type: Literal["subsidy-reversed"] = "subsidy-reversed"
    version: Literal[1] = 1
    subsidy_id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier
    amount_yuan: int = Field(gt=0)
    reason: str = Field(max_length=500)
