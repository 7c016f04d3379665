"""The talent office's HTTP API: introduced talents, their evidence, and the notice inbox."""

from collections.abc import Callable
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import asyncpg
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import Field, model_validator

from plan_events.identity import IdNumber
from plan_runtime.errors import ApiError
from plan_runtime.http import PAGED, IsoDate, paged
from plan_runtime.read_audit import record_reads
from plan_runtime.requests import RequestBody
from talent_card import handlers
from talent_card.domain import Evidence, EvidenceKind
from talent_card.store import TalentCardStore
from talent_card.views import DeterminationRecord, NoticeCount, NoticeView, TalentView


class EvidenceRequest(RequestBody):
    kind: EvidenceKind
    platform: str | None = Field(default=None, max_length=100, description="for followers: e.g. Douyin, Taobao Live")
    value: int | None = Field(default=None, ge=0, le=2**53, description="followers, or yuan of annual sales")
    level: Literal["national", "provincial", "municipal"] | None = Field(default=None, description="for awards")
    detail: str | None = Field(default=None, max_length=500, description="award name, or employer/business")

    @model_validator(mode="after")
    def _complete(self) -> "EvidenceRequest":
        needs = {
            EvidenceKind.FOLLOWERS: ("platform", "value"),
            EvidenceKind.ANNUAL_SALES: ("value",),
            EvidenceKind.AWARD: ("level", "detail"),
            EvidenceKind.LOCAL_PRESENCE: ("detail",),
        }[self.kind]
        missing = [n for n in needs if getattr(self, n) is None]
        if missing:
            raise ValueError(f"{self.kind} evidence needs {' and '.join(missing)}")
        return self

    def to_evidence(self) -> Evidence:
        return Evidence(uuid4(), self.kind, "declared", self.value, self.level, self.platform, self.detail)


class TalentRequest(RequestBody):
    id_number: IdNumber
    display_name: str = Field(min_length=1, max_length=100)
    evidence: list[EvidenceRequest] = Field(default_factory=list, max_length=50)


class Verification(RequestBody):
    verified: bool
    note: str | None = Field(default=None, max_length=500)


class CardIssue(RequestBody):
    card_number: str = Field(min_length=3, max_length=50)


class Declination(RequestBody):
    reason: str = Field(min_length=3, max_length=500)


def _talent_links(talent_id: str) -> dict[str, Any]:
    """For clients and for schemathesis' stateful phase: a talent's id and evidence lead to their routes."""
    return {
        "ReadTalent": {"operationId": "talent_talents__talent_id__get", "parameters": {"talent_id": talent_id}},
        "AddEvidence": {
            "operationId": "more_evidence_talents__talent_id__evidence_post",
            "parameters": {"talent_id": talent_id},
        },
        "VerifyEvidence": {
            "operationId": "verify_talents__talent_id__evidence__evidence_id__verification_post",
            "parameters": {"talent_id": talent_id, "evidence_id": "$response.body#/evidence/0/id"},
        },
        "Evaluate": {
            "operationId": "reevaluate_talents__talent_id__evaluation_post",
            "parameters": {"talent_id": talent_id},
        },
        "WhyThisPerson": {
            "operationId": "why_people__person_id__determinations_get",
            "parameters": {"person_id": "$response.body#/person_id"},
        },
    }


NOTICE = {"notice_id": "$response.body#/0/id"}
NOTICE_LINKS = {  # from the inbox to what the office does with a notice
    "Acknowledge": {"operationId": "acknowledge_notices__notice_id__acknowledgement_post", "parameters": NOTICE},
    "IssueCard": {"operationId": "issue_notices__notice_id__card_post", "parameters": NOTICE},
    "Decline": {"operationId": "decline_notices__notice_id__declination_post", "parameters": NOTICE},
}


def build_router(guard: Callable[..., str]) -> APIRouter:
    router = APIRouter(tags=["talent office"], dependencies=[Depends(guard)])
    Actor = Annotated[str, Depends(guard)]

    def state(request: Request) -> Any:
        return request.app.state

    @router.post(
        "/talents",
        status_code=201,
        summary="Register an introduced talent and the evidence they declare",
        responses={201: {"links": _talent_links("$response.body#/id")}},
    )
    async def register(
        request: Request,
        body: TalentRequest,
        actor: Actor,
        idempotency_key: Annotated[
            str | None, Header(max_length=200, description="a retry with the same key gets the same talent")
        ] = None,
    ) -> TalentView:
        s = state(request)
        async with s.runtime.pool.acquire() as conn:
            try:
                registered = await handlers.register_talent(
                    conn,
                    body.id_number,
                    body.display_name,
                    [e.to_evidence() for e in body.evidence],
                    s.pii_key,
                    s.rules,
                    actor,
                    idempotency_key,
                )
            except asyncpg.UniqueViolationError as error:
                if error.constraint_name != "talents_registration_key_key":
                    raise
                raise ApiError(  # the key names another person's registration
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for a different request",
                    "Idempotency-Key",
                ) from error
        return TalentView.model_validate(registered)

    @router.get(
        "/talents/{talent_id}",
        response_model=TalentView,
        response_model_exclude_unset=True,  # a read opens no notice: its determination has no notice_id
        summary="A talent, the evidence and the current determination",
    )
    async def talent(request: Request, talent_id: UUID, actor: Actor) -> dict[str, Any]:
        async with state(request).runtime.pool.acquire() as conn:
            found = await handlers.evaluate_readonly(conn, talent_id, state(request).rules)
            await record_reads(conn, actor, "GET /talents/{talent_id}", [found["person_id"]])
        return found

    @router.post(
        "/talents/{talent_id}/evidence",
        status_code=201,
        summary="Declare more evidence",
        responses={201: {"links": _talent_links("$request.path.talent_id")}},
    )
    async def more_evidence(request: Request, talent_id: UUID, body: EvidenceRequest) -> TalentView:
        async with state(request).runtime.pool.acquire() as conn:
            added = await handlers.add_evidence(conn, talent_id, body.to_evidence(), state(request).rules)
        return TalentView.model_validate(added)

    @router.post(
        "/talents/{talent_id}/evidence/{evidence_id}/verification",
        summary="Verify or reject one piece of evidence (only verified evidence counts)",
    )
    async def verify(
        request: Request, talent_id: UUID, evidence_id: UUID, body: Verification, actor: Actor
    ) -> TalentView:
        async with state(request).runtime.pool.acquire() as conn:
            decided = await handlers.decide_evidence(
                conn, talent_id, evidence_id, body.verified, actor, body.note, state(request).rules
            )
        return TalentView.model_validate(decided)

    @router.post("/talents/{talent_id}/evaluation", summary="Evaluate again under the rules in force now")
    async def reevaluate(request: Request, talent_id: UUID) -> TalentView:
        async with state(request).runtime.pool.acquire() as conn:
            evaluated = await handlers.evaluate(conn, talent_id, state(request).rules)
        return TalentView.model_validate(evaluated)

    @router.get("/people/{person_id}/determinations", summary="Why is this person eligible, or not yet?")
    async def why(
        request: Request,
        actor: Actor,
        person_id: str = Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="the pseudonym, e.g. tr-…"),
    ) -> list[DeterminationRecord]:
        async with state(request).runtime.pool.acquire() as conn:
            found = await TalentCardStore(conn).determinations(person_id)
            if not found:
                raise ApiError(404, "person_not_found", f"no determination for {person_id}", "person_id")
            await record_reads(conn, actor, "GET /people/{person_id}/determinations", [person_id])
        return [DeterminationRecord.model_validate(d) for d in found]

    @router.get(
        "/notices",
        summary="The inbox: notices by status, route and date",
        responses={200: {**PAGED[200], "links": NOTICE_LINKS}},
    )
    async def notices(
        request: Request,
        response: Response,
        actor: Actor,
        status: Literal["waiting", "acknowledged", "issued", "declined"] | None = None,
        route: Literal["plan", "introduced"] | None = None,
        created_from: IsoDate | None = None,
        created_to: IsoDate | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[NoticeView]:
        async with state(request).runtime.pool.acquire() as conn:
            found = await TalentCardStore(conn).notices(status, route, created_from, created_to, limit + 1, offset)
            shown = paged(found, limit, offset, response)
            await record_reads(conn, actor, "GET /notices", (n["person_id"] for n in shown))
        return [NoticeView.model_validate(n) for n in shown]

    @router.get("/notices/summary", summary="Notices counted by route and status")
    async def summary(request: Request) -> list[NoticeCount]:
        async with state(request).runtime.pool.acquire() as conn:
            return [NoticeCount.model_validate(c) for c in await TalentCardStore(conn).notice_counts()]

    @router.post("/notices/{notice_id}/acknowledgement", summary="Acknowledge a notice")
    async def acknowledge(request: Request, notice_id: UUID, actor: Actor) -> NoticeView:
        async with state(request).runtime.pool.acquire() as conn:
            return NoticeView.model_validate(await handlers.move_notice(conn, notice_id, "acknowledged", actor))

    @router.post("/notices/{notice_id}/card", summary="Record the card as issued, with its number")
    async def issue(request: Request, notice_id: UUID, body: CardIssue, actor: Actor) -> NoticeView:
        async with state(request).runtime.pool.acquire() as conn:
            issued = await handlers.move_notice(conn, notice_id, "issued", actor, card_number=body.card_number)
        return NoticeView.model_validate(issued)

    @router.post("/notices/{notice_id}/declination", summary="Record the card as declined, with the reason")
    async def decline(request: Request, notice_id: UUID, body: Declination, actor: Actor) -> NoticeView:
        async with state(request).runtime.pool.acquire() as conn:
            declined = await handlers.move_notice(conn, notice_id, "declined", actor, reason=body.reason)
        return NoticeView.model_validate(declined)

    return router
