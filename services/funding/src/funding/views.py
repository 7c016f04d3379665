"""What finance's API answers: one response model per body, so that the OpenAPI document describes it."""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from funding import domain
from funding.domain import BatchStatus, EntryKind, InstitutionStatus
from funding.domain import SubsidyStatus as Status
from funding.handlers import FundOutlook
from plan_events import Tier
from plan_runtime.http import View


class Row(View):
    """A view read from one of the domain's typed rows (a dataclass), attribute by attribute."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)


class FundView(View):
    policy_version: str
    total_yuan: int
    reserved_yuan: int
    approved_yuan: int = Field(description="approved, including what is already paid")
    paid_yuan: int
    available_yuan: int = Field(description="total - reserved - approved; never negative")
    burn_rate_yuan_per_day: float | None = Field(description="approved yuan per day of completions so far")
    projected_exhaustion: date | None = Field(description="when `available` runs out at that rate")

    @classmethod
    def of(cls, outlook: FundOutlook, policy_version: str) -> "FundView":
        position = outlook.position
        return cls(
            policy_version=policy_version,
            total_yuan=position.total,
            reserved_yuan=position.reserved,
            approved_yuan=position.approved,
            paid_yuan=position.paid,
            available_yuan=position.available,
            burn_rate_yuan_per_day=outlook.burn_rate,
            projected_exhaustion=outlook.projected_exhaustion,
        )


class SubsidyView(Row):
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


class LedgerEntry(Row):
    entry: EntryKind
    amount_yuan: int
    policy_version: str | None
    actor: str
    reason: str | None
    caused_by: UUID | None = Field(description="the event that caused it")
    at: datetime


class Decision(SubsidyRecord):
    """Why: the subsidy, the rule's version and every ledger entry behind it."""

    ledger: list[LedgerEntry]

    @classmethod
    def of(cls, subsidy: domain.Subsidy, ledger: Sequence[domain.LedgerLine]) -> "Decision":
        return cls.model_validate({**SubsidyRecord.model_validate(subsidy).model_dump(), "ledger": ledger})


class Total(View):
    status: Status
    tier: Tier | None = Field(default=None, description="present when grouped by tier")
    reason: str | None = Field(default=None, description="present when grouped by reason")
    count: int
    amount_yuan: int

    @classmethod
    def of(cls, total: domain.Total, by: Sequence[str]) -> "Total":
        """Only the columns it is grouped by are set (the routes answer without the unset ones)."""
        grouped = {column: getattr(total, column) for column in by}
        return cls.model_validate({**grouped, "count": total.count, "amount_yuan": total.amount_yuan})


def totals(rows: Sequence[domain.Total], by: Sequence[str]) -> list[Total]:
    return [Total.of(row, by) for row in rows]


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


class Released(Row):
    institution_id: UUID
    released_count: int
    released_yuan: int


class FundingInstitution(Row):
    institution_id: UUID
    status: InstitutionStatus
    status_seq: int
    reason: str | None
    changed_at: datetime | None = Field(default=None, description="absent until funding hears of a change")


class BatchCreated(View):
    batch_id: UUID
    institution_id: UUID
    subsidy_count: int
    total_yuan: int
    status: Literal[BatchStatus.OPEN]


class Batch(Row):
    id: UUID
    institution_id: UUID
    subsidy_count: int
    total_yuan: int
    status: BatchStatus
    created_by: str
    created_at: datetime
    paid_by: str | None
    paid_at: datetime | None
