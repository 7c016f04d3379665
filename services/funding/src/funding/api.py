"""Finance's HTTP API: thin routes that read the store or call a use case."""

from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from funding import handlers
from funding.store import FundingStore
from funding.views import (
    Batch,
    BatchCreated,
    Decision,
    FundingInstitution,
    FundView,
    Released,
    Statement,
    Status,
    SubsidyRecord,
    SubsidyView,
    Summary,
)
from plan_events import Tier
from plan_runtime.errors import ApiError
from plan_runtime.http import PAGED, IsoDate, paged
from plan_runtime.requests import RequestBody


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


def exhaustion(last: date | None, available: int, rate: float | None) -> date | None:
    """When `available` runs out at `rate` yuan a day after `last`; None when never, or past the calendar."""
    if not (rate and last):
        return None
    days = available / rate
    if days >= (date.max - last).days:
        return None
    return last + timedelta(days=days)


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
    async def fund(request: Request) -> FundView:
        async with request.app.state.runtime.pool.acquire() as conn:
            store = FundingStore(conn)
            position = await store.position()
            first, last, approved = await store.burn()
        rate = approved / ((last - first).days + 1) if first and last and approved else None
        return FundView(
            policy_version=request.app.state.policy.version,
            total_yuan=position.total,
            reserved_yuan=position.reserved,
            approved_yuan=position.approved,
            paid_yuan=position.paid,
            available_yuan=position.available,
            burn_rate_yuan_per_day=rate,
            projected_exhaustion=exhaustion(last, position.available, rate),
        )

    @router.get(
        "/subsidies",
        summary="Subsidies, filtered by institution, tier, status and completion date",
        responses={200: {**PAGED[200], "links": SUBSIDY_LINKS}},
    )
    async def subsidies(
        request: Request,
        response: Response,
        institution_id: UUID | None = None,
        tier: Tier | None = None,
        status: Status | None = None,
        completed_from: IsoDate | None = None,
        completed_to: IsoDate | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[SubsidyView]:
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await FundingStore(conn).subsidies(
                institution_id=institution_id,
                tier=tier.value if tier else None,
                status=status,
                decided_from=completed_from,
                decided_to=completed_to,
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
    async def summary(request: Request) -> dict[str, Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            store = FundingStore(conn)
            return {
                "by_status_and_tier": await store.totals_by("status", "tier"),
                "rejections_by_reason": [
                    r for r in await store.totals_by("status", "reason") if r["status"] == "rejected"
                ],
                "ledger": await store.ledger_sums(),
            }

    @router.get(
        "/decisions/{enrollment_id}",
        response_model=Decision,
        summary="Why: the decision on an enrolment and its ledger",
    )
    async def decision(request: Request, enrollment_id: UUID) -> dict[str, Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await FundingStore(conn).decision(enrollment_id)
        if found is None:
            raise ApiError(404, "decision_not_found", f"no claim for enrolment {enrollment_id}", "enrollment_id")
        return found

    @router.get(
        "/institutions/{institution_id}/statement",
        summary="An institution's subsidy statement: totals, and its subsidies a page at a time",
        response_model=Statement,
        response_model_exclude_unset=True,  # without details: no page, and the totals by reason too
    )
    async def statement(
        request: Request,
        institution_id: UUID,
        details: bool = True,
        limit: int = Query(1000, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> dict[str, Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            store = FundingStore(conn)
            if not details:
                return {
                    "institution_id": institution_id,
                    "totals": await store.totals_by("status", "tier", "reason", institution_id=institution_id),
                }
            totals = await store.totals_by("status", "tier", institution_id=institution_id)
            page = await store.subsidies(institution_id=institution_id, limit=limit, offset=offset)
        count = sum(t["count"] for t in totals)  # every subsidy of the institution, whatever the page
        return {
            "institution_id": institution_id,
            "totals": totals,
            "subsidies": page,
            "subsidy_count": count,  # nothing is cut off silently: page on with `next_offset`
            "next_offset": offset + len(page) if offset + len(page) < count else None,
        }

    @router.post(
        "/institutions/{institution_id}/reservations/release",
        summary="Give a suspended institution's reservations back to the fund (held completions stay held)",
    )
    async def release(request: Request, institution_id: UUID, body: ReleaseRequest, actor: Actor) -> Released:
        async with request.app.state.runtime.pool.acquire() as conn:
            released = await handlers.release_reservations(conn, institution_id, actor, body.reason)
        return Released.model_validate(released)

    @router.get(
        "/institutions/{institution_id}",
        response_model=FundingInstitution,
        response_model_exclude_unset=True,  # an institution funding never heard of has no changed_at
        summary="An institution's standing as funding knows it",
    )
    async def institution(request: Request, institution_id: UUID) -> dict[str, Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await FundingStore(conn).institution(institution_id)
        if found is None:
            return {"institution_id": institution_id, "status": "active", "status_seq": 0, "reason": None}
        return found

    @router.post(
        "/payment-batches",
        status_code=201,
        summary="Batch an institution's approved subsidies",
        responses={201: {"links": BATCH_LINKS}},
    )
    async def create_batch(request: Request, body: BatchRequest, actor: Actor) -> BatchCreated:
        async with request.app.state.runtime.pool.acquire() as conn:
            created = await handlers.create_payment_batch(
                conn, body.institution_id, body.declared_count, body.declared_total_yuan, actor
            )
        return BatchCreated.model_validate(created)

    @router.get("/payment-batches/{batch_id}", summary="A payment batch: its count, total and whether it is paid")
    async def batch(request: Request, batch_id: UUID) -> Batch:
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await FundingStore(conn).batch(batch_id)
        if found is None:
            raise ApiError(404, "batch_not_found", f"no payment batch {batch_id}", "batch_id")
        return Batch.model_validate(found)

    @router.post("/payment-batches/{batch_id}/pay", summary="Mark a batch paid (the total must match)")
    async def pay(request: Request, batch_id: UUID, body: PayRequest, actor: Actor) -> Batch:
        async with request.app.state.runtime.pool.acquire() as conn:
            paid = await handlers.pay_batch(conn, batch_id, body.declared_total_yuan, actor)
        return Batch.model_validate(paid)

    @router.post("/subsidies/{subsidy_id}/reverse", summary="Reverse an approved subsidy, with a reason")
    async def reverse(request: Request, subsidy_id: UUID, body: ReverseRequest, actor: Actor) -> SubsidyRecord:
        async with request.app.state.runtime.pool.acquire() as conn:
            reversed_ = await handlers.reverse_subsidy(conn, subsidy_id, actor, body.reason)
        return SubsidyRecord.model_validate(reversed_)

    return router
