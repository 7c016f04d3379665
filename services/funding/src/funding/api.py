"""Finance's HTTP API: thin routes that read the store or call a use case."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from funding import handlers
from funding.domain import SubsidyStatus, batch_not_found
from funding.store import FundingStore
from funding.views import (
    Batch,
    BatchCreated,
    Decision,
    FundingInstitution,
    FundView,
    Released,
    Statement,
    SubsidyRecord,
    SubsidyView,
    Summary,
    totals,
)
from plan_events import Tier
from plan_runtime.errors import NotFound
from plan_runtime.http import PAGED, IsoDate, paged
from plan_runtime.requests import RequestBody
from plan_runtime.unit import unit_of_work

Store = Annotated[FundingStore, unit_of_work(FundingStore)]


class BatchRequest(RequestBody):
    institution_id: UUID
    declared_count: int = Field(gt=0, le=10**9)
    declared_total_yuan: int = Field(gt=0, le=2**53)


class PayRequest(RequestBody):
    declared_total_yuan: int = Field(gt=0, le=2**53)


class ReverseRequest(RequestBody):
    reason: str = Field(min_length=3, max_length=500)


class ReleaseRequest(RequestBody):
    reason: str = Field(min_length=3, max_length=500)


BATCH_LINKS = {  # for clients and for schemathesis' stateful phase: create a batch, then read or pay it
    "ReadBatch": {
        "operationId": "batch_payment_batches__batch_id__get",
        "parameters": {"batch_id": "$response.body#/batch_id"},
    },
    "PayBatch": {
        "operationId": "pay_payment_batches__batch_id__pay_post",
        "parameters": {"batch_id": "$response.body#/batch_id"},
    },
}


SUBSIDY_LINKS = {  # from a listed subsidy to the reason for its decision, and to its reversal
    "WhyDecided": {
        "operationId": "decision_decisions__enrollment_id__get",
        "parameters": {"enrollment_id": "$response.body#/0/enrollment_id"},
    },
    "Reverse": {
        "operationId": "reverse_subsidies__subsidy_id__reverse_post",
        "parameters": {"subsidy_id": "$response.body#/0/id"},
    },
    "Statement": {
        "operationId": "statement_institutions__institution_id__statement_get",
        "parameters": {"institution_id": "$response.body#/0/institution_id"},
    },
}


def build_router(guard: Any) -> APIRouter:
    router = APIRouter(tags=["finance"], dependencies=[Depends(guard)])
    Actor = Annotated[str, Depends(guard)]

    @router.get("/fund", response_model=FundView, summary="Fund position, burn rate, projected exhaustion")
    async def fund(request: Request, store: Store) -> FundView:
        return FundView.of(await handlers.fund_outlook(store), request.app.state.policy.version)

    @router.get(
        "/subsidies",
        summary="Subsidies, filtered by institution, tier, status and completion date",
        responses={200: {**PAGED[200], "links": SUBSIDY_LINKS}},
    )
    async def subsidies(
        store: Store,
        response: Response,
        institution_id: UUID | None = None,
        tier: Tier | None = None,
        status: SubsidyStatus | None = None,
        completed_from: IsoDate | None = None,
        completed_to: IsoDate | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[SubsidyView]:
        found = await store.subsidies(
            institution_id=institution_id,
            tier=tier,
            status=status,
            completed_from=completed_from,
            completed_to=completed_to,
            limit=limit + 1,
            offset=offset,
        )
        return [SubsidyView.model_validate(s) for s in paged(found, limit, offset, response)]

    @router.get(
        "/summary",
        response_model=Summary,
        response_model_exclude_unset=True,  # a total has the columns it is grouped by
        summary="Counts and yuan by status, tier and rejection reason",
    )
    async def summary(store: Store) -> Summary:
        found = await handlers.summary(store)
        return Summary(
            by_status_and_tier=totals(found.by_status_and_tier, ("status", "tier")),
            rejections_by_reason=totals(found.rejections_by_reason, ("status", "reason")),
            ledger=found.ledger,
        )

    @router.get(
        "/decisions/{enrollment_id}",
        response_model=Decision,
        summary="Why: the decision on an enrolment and its ledger",
    )
    async def decision(store: Store, enrollment_id: UUID) -> Decision:
        found = await store.decision(enrollment_id)
        if found is None:
            raise NotFound("decision_not_found", f"no claim for enrolment {enrollment_id}", "enrollment_id")
        return Decision.of(*found)

    @router.get(
        "/institutions/{institution_id}/statement",
        summary="An institution's subsidy statement: totals, and its subsidies a page at a time",
        response_model=Statement,
        response_model_exclude_unset=True,  # without details: no page, and the totals by reason too
    )
    async def statement(
        store: Store,
        institution_id: UUID,
        details: bool = True,
        limit: int = Query(1000, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> Statement:
        found = await handlers.statement(store, institution_id, details, limit, offset)
        if found.page is None:
            return Statement(institution_id=institution_id, totals=totals(found.totals, found.by))
        return Statement(
            institution_id=institution_id,
            totals=totals(found.totals, found.by),
            subsidies=[SubsidyView.model_validate(s) for s in found.page],
            subsidy_count=found.subsidy_count,
            next_offset=found.next_offset,  # nothing is cut off silently: page on with `next_offset`
        )

    @router.post(
        "/institutions/{institution_id}/reservations/release",
        summary="Give a suspended institution's reservations back to the fund (held completions stay held)",
    )
    async def release(store: Store, institution_id: UUID, body: ReleaseRequest, actor: Actor) -> Released:
        return Released.model_validate(await handlers.release_reservations(store, institution_id, actor, body.reason))

    @router.get(
        "/institutions/{institution_id}",
        response_model=FundingInstitution,
        response_model_exclude_unset=True,  # an institution funding never heard of has no changed_at
        summary="An institution's standing as funding knows it",
    )
    async def institution(store: Store, institution_id: UUID) -> FundingInstitution:
        found = await store.institution(institution_id)
        if found is None:  # never heard of: active
            return FundingInstitution(institution_id=institution_id, status="active", status_seq=0, reason=None)
        return FundingInstitution.model_validate(found)

    @router.post(
        "/payment-batches",
        status_code=201,
        summary="Batch an institution's approved subsidies",
        responses={201: {"links": BATCH_LINKS}},
    )
    async def create_batch(store: Store, body: BatchRequest, actor: Actor) -> BatchCreated:
        created = await handlers.create_payment_batch(
            store, body.institution_id, body.declared_count, body.declared_total_yuan, actor
        )
        return BatchCreated(
            batch_id=created.batch_id,
            institution_id=created.batch.institution_id,
            subsidy_count=created.batch.subsidy_count,
            total_yuan=created.batch.total_yuan,
            status=created.status,
        )

    @router.get("/payment-batches/{batch_id}", summary="A payment batch: its count, total and whether it is paid")
    async def batch(store: Store, batch_id: UUID) -> Batch:
        found = await store.batch(batch_id)
        if found is None:
            raise batch_not_found(batch_id)
        return Batch.model_validate(found)

    @router.post("/payment-batches/{batch_id}/pay", summary="Mark a batch paid (the total must match)")
    async def pay(store: Store, batch_id: UUID, body: PayRequest, actor: Actor) -> Batch:
        return Batch.model_validate(await handlers.pay_batch(store, batch_id, body.declared_total_yuan, actor))

    @router.post("/subsidies/{subsidy_id}/reverse", summary="Reverse an approved subsidy, with a reason")
    async def reverse(store: Store, subsidy_id: UUID, body: ReverseRequest, actor: Actor) -> SubsidyRecord:
        return SubsidyRecord.model_validate(await handlers.reverse_subsidy(store, subsidy_id, actor, body.reason))

    return router
