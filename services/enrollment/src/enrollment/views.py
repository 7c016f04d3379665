"""What the enrollment API answers: one response model per body, so that the OpenAPI document describes it.

The models describe the JSON the routes have always sent; a route that builds its own JSONResponse
(the retry-safe writes) is documented by them, and a route that returns data is filtered through them.
"""

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from pydantic import Field

from enrollment.domain import Enrollment, Institution
from plan_events import Tier
from plan_runtime.errors import DomainError
from plan_runtime.http import View, status_of

if TYPE_CHECKING:
    from enrollment.handlers import RowResult as Verdict


class EnrollmentView(View):
    """What an institution sees of its own enrolment: the masked ID only, never the hash."""

    id: UUID
    trainee_id: str = Field(description="pseudonymous: the same person has the same id everywhere")
    id_masked: str
    institution_id: UUID
    tier: Tier
    target_group: str
    mode: Literal["online", "offline"]
    starts_on: date
    niche: str | None
    status: Literal["open", "completed", "withdrawn"]
    completed_on: date | None
    passed: bool | None
    outcome: Literal["employed", "own_business", "seeking"] | None
    withdrawn_reason: str | None
    created_at: datetime


class RowError(View):
    code: str
    field: str | None
    message: str
    status: int = Field(description="the status the row would have had alone")


class RowResult(View):
    row: int = Field(description="1 for the first data row")
    accepted: bool
    enrollment_id: UUID | None
    trainee_id: str | None
    error: RowError | None


class UploadSummary(View):
    """A bulk upload's answer: every row accounted for, accepted or refused with its reason."""

    rows: int
    accepted: int
    rejected: int
    results: list[RowResult]


class InstitutionView(View):
    id: UUID
    name: str
    mode: Literal["online", "offline", "both"]
    status: Literal["active", "suspended"]
    status_seq: int = Field(description="one more at each suspension or reinstatement")
    created_at: datetime


class IssuedKey(View):
    api_key: str = Field(description="shown once; the service keeps only its hash")


class FlaggedDay(View):
    institution_id: UUID
    name: str
    status: Literal["active", "suspended"]
    day: date
    rows: int
    refused: int
    refused_share: float


class AuditEntry(View):
    id: int
    actor: str
    action: str
    subject: str
    reason: str | None
    at: datetime


class LegacyIdentity(View):
    trainee_id: str
    id_masked: str
    birth_date: date
    created_at: datetime


class Counts(View):
    enrolled: int
    open: int
    completed: int = Field(description="completed and passed")
    failed: int
    withdrawn: int
    employed: int
    own_business: int
    completion_rate: float | None
    employment_rate: float | None
    own_business_rate: float | None


class TierProgress(Counts):
    targets: dict[str, int] = Field(description="the tier's target for the whole plan and for each year")
    plan_progress: float | None = Field(
        default=None, description="completed / the plan's target (present once the tier has an enrolment)"
    )


class ByStartYear(Counts):
    tier: Tier
    start_year: int
    target: int | None


class ByCompletionYear(Counts):
    tier: Tier
    completion_year: int
    target: int | None


class ByTargetGroup(Counts):
    tier: Tier
    target_group: str


class ByInstitution(Counts):
    tier: Tier
    institution_id: UUID


class ProgressReport(View):
    policy_version: str
    tiers: dict[str, TierProgress]
    by_start_year: list[ByStartYear]
    by_completion_year: list[ByCompletionYear]
    by_target_group: list[ByTargetGroup]
    by_institution: list[ByInstitution]


# --- the JSON of the retry-safe writes, remembered under their Idempotency-Key ----------------------------


def json_ready(value: Any) -> Any:
    """Plain JSON types (UUIDs, dates as strings), fast even for a 10,000-row cohort answer."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))


def enrollment_body(enrolment: Enrollment) -> dict[str, Any]:
    """What an institution sees of its own enrolment (EnrollmentView's fields): the masked ID, never the hash."""
    return json_ready({name: getattr(enrolment, name) for name in EnrollmentView.model_fields})  # type: ignore[no-any-return]


def institution_body(institution: Institution) -> dict[str, Any]:
    return json_ready({f.name: getattr(institution, f.name) for f in fields(institution)})  # type: ignore[no-any-return]


def _row_error(error: DomainError) -> dict[str, Any]:
    return {"code": error.code, "field": error.field, "message": error.message, "status": status_of(error)}


def upload_summary(results: Sequence["Verdict"]) -> dict[str, Any]:
    """An UploadSummary as JSON: every row, accepted or refused with the status it would have had alone.

    Built from plain JSON types directly (no `json_ready` round trip: a cohort answer has 50,000 rows at most)."""
    accepted = sum(r.accepted for r in results)
    return {
        "rows": len(results),
        "accepted": accepted,
        "rejected": len(results) - accepted,
        "results": [
            {
                "row": r.row,
                "accepted": r.accepted,
                "enrollment_id": None if r.enrollment_id is None else str(r.enrollment_id),
                "trainee_id": r.trainee_id,
                "error": None if r.error is None else _row_error(r.error),
            }
            for r in results
        ],
    }
