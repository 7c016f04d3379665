"""What institutions send: one enrolment, a completion, a withdrawal (or rows of them). Validated at the edge."""

from datetime import date
from uuid import UUID

from pydantic import ConfigDict, Field

from plan_events import Mode, Outcome, TargetGroup, Tier
from plan_events.identity import IdNumber
from plan_runtime.requests import RequestBody


class EnrolRequest(RequestBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id_number: IdNumber
    name: str = Field(min_length=1, max_length=50)
    phone: str = Field(pattern=r"^1\d{10}$", description="11-digit mainland mobile number")
    target_group: TargetGroup
    tier: Tier
    mode: Mode
    starts_on: date = Field(description="inside the plan's period (policy), not in the future")
    niche: str | None = Field(default=None, max_length=200, description='e.g. "cashmere and fur"')


class CompletionRequest(RequestBody):
    model_config = ConfigDict(extra="forbid")

    completed_on: date
    passed: bool = Field(description="whether the course's assessment was passed")
    outcome: Outcome | None = Field(default=None, description="may also be reported later")


class CompletionItem(CompletionRequest):
    """One row of a bulk completion upload."""

    enrollment_id: UUID


class OutcomeRequest(RequestBody):
    outcome: Outcome


class WithdrawalRequest(RequestBody):
    reason: str = Field(min_length=3, max_length=500)


class WithdrawalItem(WithdrawalRequest):
    """One row of a bulk withdrawal upload."""

    enrollment_id: UUID


class InstitutionRequest(RequestBody):
    name: str = Field(min_length=2, max_length=200)
    mode: Mode | str = Field(default="both", pattern=r"^(online|offline|both)$")


class StatusChange(RequestBody):
    reason: str = Field(min_length=3, max_length=500)
