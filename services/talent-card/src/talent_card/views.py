"""What the talent office's API answers: one response model per body, so that the OpenAPI document describes it."""

from datetime import datetime
from uuid import UUID

from pydantic import Field

from plan_events import EligibilityRoute as Route
from plan_runtime.http import View
from talent_card import domain
from talent_card.domain import EvidenceKind, EvidenceStatus, NoticeStatus


class EvidenceView(View):
    id: UUID
    kind: EvidenceKind
    status: EvidenceStatus = Field(description="only verified evidence counts")
    value: int | None
    level: str | None
    platform: str | None
    detail: str | None


class DeterminationView(View):
    person_id: str
    route: Route
    rule_id: str
    rule_version: str
    eligible: bool
    evidence: list[str] = Field(description="what the rule relied on, in words")
    explanation: str
    notice_id: UUID | None = Field(
        default=None, description="after a write: the notice opened by this evaluation, if it opened one"
    )


class TalentView(View):
    id: UUID
    person_id: str = Field(description="the same pseudonym enrollment uses for this ID number")
    id_masked: str
    display_name: str
    created_by: str
    created_at: datetime
    registration_key: str | None = Field(description="the Idempotency-Key the talent was registered with")
    evidence: list[EvidenceView]
    determination: DeterminationView


class DeterminationRecord(View):
    id: int
    person_id: str
    route: Route
    rule_id: str
    rule_version: str
    eligible: bool
    evidence: list[str]
    explanation: str
    at: datetime


class NoticeView(View):
    id: UUID
    person_id: str
    route: Route
    rule_id: str
    rule_version: str
    evidence: list[str]
    id_masked: str | None
    status: NoticeStatus
    card_number: str | None
    decline_reason: str | None
    created_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None


class NoticeCount(View):
    route: Route
    status: NoticeStatus
    count: int


def talent_view(evaluation: domain.Evaluation) -> TalentView:
    """A read opens no notice: its determination has no `notice_id` at all (the route leaves unset fields out)."""
    opened = {"notice_id": evaluation.notice_id} if evaluation.recorded else {}
    return TalentView(
        **vars(evaluation.talent),
        evidence=[EvidenceView(**vars(e)) for e in evaluation.evidence],
        determination=DeterminationView(**vars(evaluation.determination), **opened),
    )


def notice_view(notice: domain.Notice) -> NoticeView:
    return NoticeView(**vars(notice))
