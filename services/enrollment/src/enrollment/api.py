"""HTTP routes for institutions and the Bureau: parse, authorise, call a use case, answer."""

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from enrollment import cohort, handlers, progress
from enrollment.access import Institution, institution, must_be_active
from enrollment.requests import (
    CompletionItem,
    CompletionRequest,
    EnrolRequest,
    InstitutionRequest,
    OutcomeRequest,
    StatusChange,
    WithdrawalRequest,
)
from enrollment.store import EnrollmentStore
from plan_events import Tier
from plan_events.calendar import plan_today
from plan_runtime import Connection
from plan_runtime.errors import ApiError
from plan_runtime.http import error_body

Caller = Annotated[Institution, Depends(institution)]
IdempotencyKey = Annotated[str | None, Header(max_length=200, description="retry-safe writes: same key, same answer")]
PUBLIC_FIELDS = (
    "id",
    "trainee_id",
    "id_masked",
    "institution_id",
    "tier",
    "target_group",
    "mode",
    "starts_on",
    "niche",
    "status",
    "completed_on",
    "passed",
    "outcome",
    "withdrawn_reason",
    "created_at",
)


def json_ready(value: Any) -> Any:
    """Plain JSON types (UUIDs, dates as strings), fast even for a 10,000-row cohort answer."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))


def view(enrolment: dict[str, Any]) -> dict[str, Any]:
    """What an institution sees of its own enrolment: the masked ID only, never the hash."""
    return {k: enrolment.get(k) for k in PUBLIC_FIELDS}


async def idempotent(
    request: Request,
    principal: str,
    key: str | None,
    status: int,
    action: Callable[[Connection], Awaitable[Any]],
    keep_refusals: bool = False,
) -> JSONResponse:
    """Run `action` once per (caller, Idempotency-Key): a retry gets the first answer, and nothing new.

    With `keep_refusals`, an action that refuses (ApiError) still commits what it wrote before refusing —
    the audit of what the refusal revealed and the day's refusal count — and its answer is remembered."""
    fingerprint = hashlib.sha256(request.url.path.encode() + b"\n" + await request.body()).hexdigest()
    async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
        if key is not None:
            first = await EnrollmentStore(conn).claim_idempotency_key(principal, key, fingerprint)
            if first is not None:
                if first["request_hash"] != fingerprint:
                    raise ApiError(
                        422,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used for a different request",
                        "Idempotency-Key",
                    )
                return JSONResponse(first["body"], first["status_code"], headers={"Idempotent-Replay": "true"})
        try:
            body = json_ready(await action(conn))
        except ApiError as refusal:
            if not keep_refusals:
                raise
            body, status = error_body(refusal.code, refusal.message, refusal.field), refusal.status
        if key is not None:
            await EnrollmentStore(conn).remember_response(principal, key, status, body)
    return JSONResponse(body, status)


BULK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}},
    }
}


def only(results: list[handlers.RowResult]) -> handlers.RowResult:
    """The single-row form of a bulk use case: a refused row is the request's error."""
    [result] = results
    if not result.accepted:
        assert result.error is not None
        error = result.error
        raise ApiError(error["status"], error["code"], error["message"], error["field"])
    return result


async def bulk_rows(request: Request, model: type[cohort.Row]) -> list[cohort.Row | cohort.RowError]:
    try:
        return cohort.parse(await request.body(), request.headers.get("content-type", ""), model)
    except cohort.CohortError as error:
        raise ApiError(422, "invalid_upload", str(error), "body") from error


async def summarised(pending: Awaitable[list[handlers.RowResult]]) -> dict[str, Any]:
    results = await pending
    accepted = sum(r.accepted for r in results)
    return {
        "rows": len(results),
        "accepted": accepted,
        "rejected": len(results) - accepted,
        "results": [asdict(r) for r in results],
    }


def institution_router() -> APIRouter:
    router = APIRouter(tags=["institutions"])

    @router.post("/enrollments", status_code=201, summary="Enrol one trainee in a tier")
    async def enrol(
        request: Request, body: EnrolRequest, who: Caller, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        must_be_active(who)
        state = request.app.state

        async def action(conn: Connection) -> Any:
            result = only(await handlers.enrol(conn, who.id, [body], state.policy, state.pii_key))
            found = await EnrollmentStore(conn).enrollment(result.enrollment_id, who.id)  # type: ignore[arg-type]
            assert found is not None
            return view(found)

        return await idempotent(request, str(who.id), idempotency_key, 201, action, keep_refusals=True)

    @router.post(
        "/cohorts",
        summary="Enrol a cohort: CSV (text/csv) or JSON lines (application/x-ndjson)",
        openapi_extra=BULK_BODY,
    )
    async def upload(request: Request, who: Caller, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        must_be_active(who)
        rows = await bulk_rows(request, EnrolRequest)
        state = request.app.state
        return await idempotent(
            request,
            str(who.id),
            idempotency_key,
            200,
            lambda conn: summarised(handlers.enrol(conn, who.id, rows, state.policy, state.pii_key)),
        )

    @router.post(
        "/completions",
        summary="Report finished courses in bulk: CSV or JSON lines, a row per enrolment",
        openapi_extra=BULK_BODY,
    )
    async def completions(request: Request, who: Caller, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        rows = await bulk_rows(request, CompletionItem)
        policy = request.app.state.policy
        return await idempotent(
            request,
            str(who.id),
            idempotency_key,
            200,
            lambda conn: summarised(handlers.complete(conn, who.id, rows, policy)),
        )

    @router.get("/enrollments", summary="The institution's own enrolments")
    async def listing(
        request: Request,
        who: Caller,
        status: Literal["open", "completed", "withdrawn"] | None = None,
        tier: Tier | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[dict[str, Any]]:
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await EnrollmentStore(conn).enrollments(who.id, status, tier.value if tier else None, limit, offset)
        return [view(e) for e in found]

    @router.get("/enrollments/{enrollment_id}", summary="One of the institution's enrolments")
    async def one(request: Request, enrollment_id: UUID, who: Caller) -> dict[str, Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await EnrollmentStore(conn).enrollment(enrollment_id, who.id)
        if found is None:
            raise ApiError(
                404, "enrollment_not_found", f"no enrolment {enrollment_id} at this institution", "enrollment_id"
            )
        return view(found)

    @router.post("/enrollments/{enrollment_id}/completion", summary="Report a finished course and its assessment")
    async def completion(
        request: Request,
        enrollment_id: UUID,
        body: CompletionRequest,
        who: Caller,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        policy = request.app.state.policy
        item = CompletionItem(enrollment_id=enrollment_id, **body.model_dump())

        async def action(conn: Connection) -> Any:
            only(await handlers.complete(conn, who.id, [item], policy))
            found = await EnrollmentStore(conn).enrollment(enrollment_id, who.id)
            assert found is not None
            return view(found)

        return await idempotent(request, str(who.id), idempotency_key, 200, action)

    @router.put("/enrollments/{enrollment_id}/outcome", summary="Report (or correct) the outcome after a course")
    async def outcome(
        request: Request, enrollment_id: UUID, body: OutcomeRequest, who: Caller, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        return await idempotent(
            request,
            str(who.id),
            idempotency_key,
            200,
            lambda conn: _viewed(handlers.report_outcome(conn, who.id, enrollment_id, body.outcome)),
        )

    @router.post("/enrollments/{enrollment_id}/withdrawal", summary="Withdraw an open enrolment, with a reason")
    async def withdrawal(
        request: Request,
        enrollment_id: UUID,
        body: WithdrawalRequest,
        who: Caller,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        return await idempotent(
            request,
            str(who.id),
            idempotency_key,
            200,
            lambda conn: _viewed(handlers.withdraw(conn, who.id, enrollment_id, body.reason, f"institution:{who.id}")),
        )

    return router


async def _viewed(pending: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return view(await pending)


def bureau_router(guard: Callable[..., str]) -> APIRouter:
    router = APIRouter(tags=["bureau"], dependencies=[Depends(guard)])
    Actor = Annotated[str, Depends(guard)]

    @router.post("/institutions", status_code=201, summary="Accredit an institution")
    async def accredit(
        request: Request, body: InstitutionRequest, actor: Actor, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        async def action(conn: Connection) -> Any:
            store = EnrollmentStore(conn)
            institution_id = uuid4()
            try:
                await store.add_institution(institution_id, body.name, str(body.mode))
            except asyncpg.UniqueViolationError as error:
                message = f"an institution named {body.name!r} exists"
                raise ApiError(409, "institution_exists", message, "name") from error
            await store.audit(actor, "accredit", str(institution_id))
            return await store.institution(institution_id)

        return await idempotent(request, "bureau", idempotency_key, 201, action)

    @router.get("/institutions", summary="All institutions")
    async def institutions(request: Request) -> list[dict[str, Any]]:
        async with request.app.state.runtime.pool.acquire() as conn:
            return await EnrollmentStore(conn).institutions()

    @router.post("/institutions/{institution_id}/suspension", summary="Suspend an institution")
    async def suspend(request: Request, institution_id: UUID, body: StatusChange, actor: Actor) -> dict[str, Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            return await handlers.change_status(conn, institution_id, "suspended", actor, body.reason)

    @router.post("/institutions/{institution_id}/reinstatement", summary="Reinstate a suspended institution")
    async def reinstate(request: Request, institution_id: UUID, body: StatusChange, actor: Actor) -> dict[str, Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            return await handlers.change_status(conn, institution_id, "active", actor, body.reason)

    @router.post("/institutions/{institution_id}/keys", status_code=201, summary="Issue an API key (shown once)")
    async def issue(request: Request, institution_id: UUID, actor: Actor) -> dict[str, str]:
        async with request.app.state.runtime.pool.acquire() as conn:
            return {"api_key": await handlers.issue_key(conn, institution_id, actor)}

    @router.delete("/institutions/{institution_id}/keys/{key_id}", status_code=204, summary="Revoke an API key")
    async def revoke(request: Request, institution_id: UUID, key_id: str, actor: Actor) -> None:
        async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
            store = EnrollmentStore(conn)
            try:
                found = await store.revoke_key(institution_id, UUID(hex=key_id))
            except ValueError:
                found = False
            if not found:
                raise ApiError(404, "key_not_found", f"no active key {key_id} for this institution", "key_id")
            await store.audit(actor, "revoke_key", f"{institution_id}/{key_id}")

    @router.get(
        "/flagged-institutions",
        summary="Institutions that refused more than the policy's share of a day's rows (possible probing)",
    )
    async def flagged(
        request: Request,
        since: Annotated[date | None, Query(description="first day to look at (default: 30 days ago)")] = None,
    ) -> list[dict[str, Any]]:
        limits = request.app.state.policy.refusals
        async with request.app.state.runtime.pool.acquire() as conn:
            return await EnrollmentStore(conn).flagged(
                limits.flag_share, limits.flag_min_rows, since or plan_today() - timedelta(days=30)
            )

    @router.get(
        "/identity-lookups",
        summary="Audit: every enrolment refusal that revealed something of a person's record elsewhere",
    )
    async def lookups(
        request: Request, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9)
    ) -> list[dict[str, Any]]:
        async with request.app.state.runtime.pool.acquire() as conn:
            return await EnrollmentStore(conn).audit_entries("identity_lookup", limit, offset)

    @router.get(
        "/legacy-identities",
        summary="Trainees pseudonymised from a non-ASCII spelling before ID numbers were canonical: to review",
    )
    async def legacy(request: Request, limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        async with request.app.state.runtime.pool.acquire() as conn:
            return await EnrollmentStore(conn).legacy_identities(limit)

    @router.get("/progress", summary="Progress against the plan's targets by tier, year, target group, institution")
    async def progress_report(request: Request) -> dict[str, Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            rows = await EnrollmentStore(conn).progress()
        return progress.shape(rows, request.app.state.policy)

    return router
