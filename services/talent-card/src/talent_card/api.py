"""The talent office's HTTP API: introduced talents, their evidence, and the notice inbox."""

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import Field, model_validator

from plan_events.identity import IdNumber
from plan_runtime.errors import ApiError
from plan_runtime.requests import RequestBody
from talent_card import handlers
from talent_card.domain import Evidence, EvidenceKind
from talent_card.store import TalentCardStore


class EvidenceRequest(RequestBody):
    kind: EvidenceKind
    platform: str | None = Field(default=None, max_length=100, description="for followers: e.g. Douyin, Taobao Live")
    value: int | None = Field(default=None, ge=0, description="followers, or yuan of annual sales")
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


def build_router(guard: Callable[..., str]) -> APIRouter:
    router = APIRouter(tags=["talent office"], dependencies=[Depends(guard)])
    Actor = Annotated[str, Depends(guard)]

    def state(request: Request) -> Any:
        return request.app.state

    @router.post("/talents", status_code=201, summary="Register an introduced talent and the evidence they declare")
    async def register(
        request: Request,
        body: TalentRequest,
        actor: Actor,
        idempotency_key: Annotated[
            str | None, Header(max_length=200, description="a retry with the same key gets the same talent")
        ] = None,
    ) -> dict[str, Any]:
        s = state(request)
        async with s.runtime.pool.acquire() as conn:
            return await handlers.register_talent(
                conn,
                body.id_number,
                body.display_name,
                [e.to_evidence() for e in body.evidence],
                s.pii_key,
                s.rules,
                actor,
                idempotency_key,
            )

    @router.get("/talents/{talent_id}", summary="A talent, the evidence and the current determination")
    async def talent(request: Request, talent_id: UUID) -> dict[str, Any]:
        async with state(request).runtime.pool.acquire() as conn:
            return await handlers.evaluate_readonly(conn, talent_id, state(request).rules)

    @router.post("/talents/{talent_id}/evidence", status_code=201, summary="Declare more evidence")
    async def more_evidence(request: Request, talent_id: UUID, body: EvidenceRequest) -> dict[str, Any]:
        async with state(request).runtime.pool.acquire() as conn:
            return await handlers.add_evidence(conn, talent_id, body.to_evidence(), state(request).rules)

    @router.post(
        "/talents/{talent_id}/evidence/{evidence_id}/verification",
        summary="Verify or reject one piece of evidence (only verified evidence counts)",
    )
    async def verify(
        request: Request, talent_id: UUID, evidence_id: UUID, body: Verification, actor: Actor
    ) -> dict[str, Any]:
        async with state(request).runtime.pool.acquire() as conn:
            return await handlers.decide_evidence(
                conn, talent_id, evidence_id, body.verified, actor, body.note, state(request).rules
            )

    @router.post("/talents/{talent_id}/evaluation", summary="Evaluate again under the rules in force now")
    async def reevaluate(request: Request, talent_id: UUID) -> dict[str, Any]:
        async with state(request).runtime.pool.acquire() as conn:
            return await handlers.evaluate(conn, talent_id, state(request).rules)

    @router.get("/people/{person_id}/determinations", summary="Why is this person eligible, or not yet?")
    async def why(request: Request, person_id: str) -> list[dict[str, Any]]:
        async with state(request).runtime.pool.acquire() as conn:
            found = await TalentCardStore(conn).determinations(person_id)
        if not found:
            raise ApiError(404, "person_not_found", f"no determination for {person_id}", "person_id")
        return found

    @router.get("/notices", summary="The inbox: notices by status, route and date")
    async def notices(
        request: Request,
        status: Literal["waiting", "acknowledged", "issued", "declined"] | None = None,
        route: Literal["plan", "introduced"] | None = None,
        created_from: date | None = None,
        created_to: date | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[dict[str, Any]]:
        async with state(request).runtime.pool.acquire() as conn:
            return await TalentCardStore(conn).notices(status, route, created_from, created_to, limit, offset)

    @router.get("/notices/summary", summary="Notices counted by route and status")
    async def summary(request: Request) -> list[dict[str, Any]]:
        async with state(request).runtime.pool.acquire() as conn:
            return await TalentCardStore(conn).notice_counts()

    @router.post("/notices/{notice_id}/acknowledgement", summary="Acknowledge a notice")
    async def acknowledge(request: Request, notice_id: UUID, actor: Actor) -> dict[str, Any]:
        async with state(request).runtime.pool.acquire() as conn:
            return await handlers.move_notice(conn, notice_id, "acknowledged", actor)

    @router.post("/notices/{notice_id}/card", summary="Record the card as issued, with its number")
    async def issue(request: Request, notice_id: UUID, body: CardIssue, actor: Actor) -> dict[str, Any]:
        async with state(request).runtime.pool.acquire() as conn:
            return await handlers.move_notice(conn, notice_id, "issued", actor, card_number=body.card_number)

    @router.post("/notices/{notice_id}/declination", summary="Record the card as declined, with the reason")
    async def decline(request: Request, notice_id: UUID, body: Declination, actor: Actor) -> dict[str, Any]:
        async with state(request).runtime.pool.acquire() as conn:
            return await handlers.move_notice(conn, notice_id, "declined", actor, reason=body.reason)

    return router
