"""What the talent office's API answers: one response model per body, so that the OpenAPI document describes it."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from plan_runtime.http import View
from talent_card.domain import EvidenceKind

Route = Literal["plan", "introduced"]
NoticeStatus = Literal["waiting", "acknowledged", "issued", "declined"]


class EvidenceView(View):
    id: UUID
    kind: EvidenceKind
    status: Literal["declared", "verified", "rejected"] = Field(description="only verified evidence counts")
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
