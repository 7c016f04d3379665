"""The talent office's HTTP API: introduced talents, their evidence, and the notice inbox."""

from collections.abc import Callable
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import Field, model_validator

from plan_events import EligibilityRoute
from plan_events.identity import IdNumber
from plan_events.ids import new_id
from plan_runtime.http import PAGED, IsoDate, paged
from plan_runtime.requests import RequestBody
from plan_runtime.unit import unit_of_work
from talent_card import handlers
from talent_card.domain import Evidence, EvidenceKind, EvidenceStatus, NoticeFilter, NoticeStatus
from talent_card.rules import Rules
from talent_card.store import TalentCardStore
from talent_card.views import DeterminationRecord, NoticeCount, NoticeView, TalentView, notice_view, talent_view

Store = Annotated[TalentCardStore, unit_of_work(TalentCardStore)]
"""The store on one transaction: what a route's use case publishes commits with it, before the answer."""


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
        status = EvidenceStatus.DECLARED
        return Evidence(new_id(), self.kind, status, self.value, self.level, self.platform, self.detail)


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

    def rules(request: Request) -> Rules:
        return request.app.state.rules  # type: ignore[no-any-return]

    InForce = Annotated[Rules, Depends(rules)]

    @router.post(
        "/talents",
        status_code=201,
        summary="Register an introduced talent and the evidence they declare",
        responses={201: {"links": _talent_links("$response.body#/id")}},
    )
    async def register(
        request: Request,
        store: Store,
        body: TalentRequest,
        actor: Actor,
        rules: InForce,
        idempotency_key: Annotated[
            str | None, Header(max_length=200, description="a retry with the same key gets the same talent")
        ] = None,
    ) -> TalentView:
        evidence = [e.to_evidence() for e in body.evidence]
        pii_key: bytes = request.app.state.pii_key
        registered = await handlers.register_talent(
            store, body.id_number, body.display_name, evidence, pii_key, rules, actor, idempotency_key
        )
        return talent_view(registered)

    @router.get(
        "/talents/{talent_id}",
        response_model=TalentView,
        response_model_exclude_unset=True,  # a read opens no notice: its determination has no notice_id
        summary="A talent, the evidence and the current determination",
    )
    async def talent(store: Store, talent_id: UUID, actor: Actor, rules: InForce) -> TalentView:
        return talent_view(await handlers.read_talent(store, talent_id, rules, actor))

    @router.post(
        "/talents/{talent_id}/evidence",
        status_code=201,
        summary="Declare more evidence",
        responses={201: {"links": _talent_links("$request.path.talent_id")}},
    )
    async def more_evidence(store: Store, talent_id: UUID, body: EvidenceRequest, rules: InForce) -> TalentView:
        return talent_view(await handlers.add_evidence(store, talent_id, body.to_evidence(), rules))

    @router.post(
        "/talents/{talent_id}/evidence/{evidence_id}/verification",
        summary="Verify or reject one piece of evidence (only verified evidence counts)",
    )
    async def verify(
        store: Store, talent_id: UUID, evidence_id: UUID, body: Verification, actor: Actor, rules: InForce
    ) -> TalentView:
        decided = await handlers.decide_evidence(store, talent_id, evidence_id, body.verified, actor, body.note, rules)
        return talent_view(decided)

    @router.post("/talents/{talent_id}/evaluation", summary="Evaluate again under the rules in force now")
    async def reevaluate(store: Store, talent_id: UUID, rules: InForce) -> TalentView:
        return talent_view(await handlers.evaluate(store, talent_id, rules))

    @router.get("/people/{person_id}/determinations", summary="Why is this person eligible, or not yet?")
    async def why(
        store: Store,
        actor: Actor,
        person_id: str = Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="the pseudonym, e.g. tr-…"),
    ) -> list[DeterminationRecord]:
        found = await handlers.why(store, person_id, actor)
        return [DeterminationRecord.model_validate(d, from_attributes=True) for d in found]

    @router.get(
        "/notices",
        summary="The inbox: notices by status, route and date",
        responses={200: {**PAGED[200], "links": NOTICE_LINKS}},
    )
    async def notices(
        store: Store,
        response: Response,
        actor: Actor,
        status: NoticeStatus | None = None,
        route: EligibilityRoute | None = None,
        created_from: IsoDate | None = None,
        created_to: IsoDate | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[NoticeView]:
        which = NoticeFilter(status, route, created_from, created_to)
        found = await handlers.browse_notices(store, which, limit, offset, actor)
        return [notice_view(n) for n in paged(found, limit, offset, response)]

    @router.get("/notices/summary", summary="Notices counted by route and status")
    async def summary(store: Store) -> list[NoticeCount]:
        return [NoticeCount.model_validate(c, from_attributes=True) for c in await store.notice_counts()]

    @router.post("/notices/{notice_id}/acknowledgement", summary="Acknowledge a notice")
    async def acknowledge(store: Store, notice_id: UUID, actor: Actor) -> NoticeView:
        return notice_view(await handlers.acknowledge_notice(store, notice_id, actor))

    @router.post("/notices/{notice_id}/card", summary="Record the card as issued, with its number")
    async def issue(store: Store, notice_id: UUID, body: CardIssue, actor: Actor) -> NoticeView:
        return notice_view(await handlers.issue_card(store, notice_id, body.card_number, actor))

    @router.post("/notices/{notice_id}/declination", summary="Record the card as declined, with the reason")
    async def decline(store: Store, notice_id: UUID, body: Declination, actor: Actor) -> NoticeView:
        return notice_view(await handlers.decline_card(store, notice_id, body.reason, actor))

    return router
