"""Events the talent-card service publishes."""

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from plan_events.envelope import Event
from plan_events.vocabulary import EligibilityRoute


class GreenCardEligible(Event):
    """A person met a green-card rule and may apply; published once per person."""

    topic: ClassVar[str] = "green-card-eligible"
    type: Literal["green-card-eligible"] = "green-card-eligible"
    version: Literal[1] = 1
    notice_id: UUID
    person_id: str
    route: EligibilityRoute
    rule_id: str
    rule_version: str
    evidence: list[str] = Field(default_factory=list)
