"""What finance's API answers: one response model per body, so that the OpenAPI document describes it."""

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from plan_events import Tier
from plan_runtime.http import View

Status = Literal["reserved", "released", "withdrawn", "held", "approved", "rejected", "paid", "reversed"]


class FundView(View):
    policy_version: str
    total_yuan: int
    reserved_yuan: int
    approved_yuan: int = Field(description="approved, including what is already paid")
    paid_yuan: int
    available_yuan: int = Field(description="total - reserved - approved; never negative")
    burn_rate_yuan_per_day: float | None = Field(description="approved yuan per day of completions so far")
    projected_exhaustion: date | None = Field(description="when `available` runs out at that rate")


class SubsidyView(View):
    id: UUID
    enrollment_id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier
    status: Status
    amount_yuan: int
    reason: str | None = Field(description="why rejected, held or reversed")
    policy_version: str | None
    completed_on: date | None
    batch_id: UUID | None
    decided_at: datetime | None


class SubsidyRecord(SubsidyView):
    """The whole subsidy row."""

    passed: bool | None
    created_at: datetime


class LedgerEntry(View):
    entry: Literal["reserve", "release", "approve", "reverse", "pay"]
    amount_yuan: int
    policy_version: str | None
    actor: str
    reason: str | None
    caused_by: UUID | None = Field(description="the event that caused it")
    at: datetime


class Decision(SubsidyRecord):
    """Why: the subsidy, the rule's version and every ledger entry behind it."""

    ledger: list[LedgerEntry]


class Total(View):
    status: Status
    tier: Tier | None = Field(default=None, description="present when grouped by tier")
    reason: str | None = Field(default=None, description="present when grouped by reason")
    count: int
    amount_yuan: int


class Summary(View):
    by_status_and_tier: list[Total]
    rejections_by_reason: list[Total]
    ledger: dict[str, int] = Field(description="yuan by ledger entry kind")


class Statement(View):
    """With `details=false`: the totals by status, tier and reason only."""

    institution_id: UUID
    totals: list[Total]
    subsidies: list[SubsidyView] | None = Field(default=None, description="this page (with details)")
    subsidy_count: int | None = Field(default=None, description="all the institution's subsidies (with details)")
    next_offset: int | None = Field(default=None, description="where the next page starts; null on the last")


class Released(View):
    institution_id: UUID
    released_count: int
    released_yuan: int


class FundingInstitution(View):
    institution_id: UUID
    status: Literal["active", "suspended"]
    status_seq: int
    reason: str | None
    changed_at: datetime | None = Field(default=None, description="absent until funding hears of a change")


class BatchCreated(View):
    batch_id: UUID
    institution_id: UUID
    subsidy_count: int
    total_yuan: int
    status: Literal["open"]


class Batch(View):
    id: UUID
    institution_id: UUID
    subsidy_count: int
    total_yuan: int
    status: Literal["open", "paid"]
    created_by: str
    created_at: datetime
    paid_by: str | None
    paid_at: datetime | None
