"""HTTP routes for institutions and the Bureau: parse, authorise, call a use case, answer."""

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import asyncpg
from fastapi import APIRouter, Depends, Header, Query, Request, Response
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
from enrollment.views import (
    AuditEntry,
    EnrollmentView,
    FlaggedDay,
    InstitutionView,
    IssuedKey,
    LegacyIdentity,
    ProgressReport,
    UploadSummary,
)
from plan_events import Tier
from plan_events.calendar import plan_today
from plan_runtime import Connection
from plan_runtime.errors import ApiError
from plan_runtime.http import PAGED, IsoDate, error_body, paged
from plan_runtime.read_audit import record_reads

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
    fingerprint = getattr(request.state, "fingerprint", None)  # a bulk upload's, hashed as it streamed in
    fingerprint = fingerprint or hashlib.sha256(request.url.path.encode() + b"\n" + await request.body()).hexdigest()
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
    """Parsed off the event loop as the body streams in (never buffered whole); refused as soon as it is
    unreadable or passes the row limit (413 too_many_rows), before anything is written."""
    digest = hashlib.sha256(request.url.path.encode() + b"\n")

    async def hashed() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            digest.update(chunk)
            yield chunk

    try:
        rows = await cohort.parse_stream(hashed(), request.headers.get("content-type", ""), model)
    except cohort.CohortError as error:
        raise ApiError(error.status, error.code, str(error), "body") from error
    request.state.fingerprint = digest.hexdigest()  # for `idempotent`: the body is not kept
    return rows


async def summarised(pending: Awaitable[list[handlers.RowResult]]) -> dict[str, Any]:
    results = await pending
    accepted = sum(r.accepted for r in results)
    return {
        "rows": len(results),
        "accepted": accepted,
        "rejected": len(results) - accepted,
        "results": [asdict(r) for r in results],
    }


def _links(**operations: tuple[str, dict[str, str]]) -> dict[str, Any]:
    """OpenAPI links, for clients and for schemathesis' stateful phase: what a created resource leads to."""
    return {name: {"operationId": op, "parameters": parameters} for name, (op, parameters) in operations.items()}


ENROLMENT = {"enrollment_id": "$response.body#/id"}
ENROLMENT_LINKS = _links(
    ReadEnrolment=("one_enrollments__enrollment_id__get", ENROLMENT),
    Complete=("completion_enrollments__enrollment_id__completion_post", ENROLMENT),
    ReportOutcome=("outcome_enrollments__enrollment_id__outcome_put", ENROLMENT),
    Withdraw=("withdrawal_enrollments__enrollment_id__withdrawal_post", ENROLMENT),
)
INSTITUTION = {"institution_id": "$response.body#/id"}
INSTITUTION_LINKS = _links(
    ReadInstitution=("institution_institutions__institution_id__get", INSTITUTION),
    IssueKey=("issue_institutions__institution_id__keys_post", INSTITUTION),
    Suspend=("suspend_institutions__institution_id__suspension_post", INSTITUTION),
    Reinstate=("reinstate_institutions__institution_id__reinstatement_post", INSTITUTION),
)


def institution_router() -> APIRouter:
    router = APIRouter(tags=["institutions"])

    @router.post(
        "/enrollments",
        status_code=201,
        response_model=EnrollmentView,
        summary="Enrol one trainee in a tier",
        responses={201: {"links": ENROLMENT_LINKS}},
    )
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
        response_model=UploadSummary,
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
        response_model=UploadSummary,
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

    @router.get("/enrollments", summary="The institution's own enrolments", responses=PAGED)
    async def listing(
        request: Request,
        response: Response,
        who: Caller,
        status: Literal["open", "completed", "withdrawn"] | None = None,
        tier: Tier | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[EnrollmentView]:
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await EnrollmentStore(conn).enrollments(
                who.id, status, tier.value if tier else None, limit + 1, offset
            )
            shown = paged(found, limit, offset, response)
            await record_reads(conn, f"institution:{who.id}", "GET /enrollments", (e["trainee_id"] for e in shown))
        return [EnrollmentView.model_validate(view(e)) for e in shown]

    @router.get("/enrollments/{enrollment_id}", summary="One of the institution's enrolments")
    async def one(request: Request, enrollment_id: UUID, who: Caller) -> EnrollmentView:
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await EnrollmentStore(conn).enrollment(enrollment_id, who.id)
            if found is None:
                raise ApiError(
                    404, "enrollment_not_found", f"no enrolment {enrollment_id} at this institution", "enrollment_id"
                )
            await record_reads(conn, f"institution:{who.id}", "GET /enrollments/{enrollment_id}", [found["trainee_id"]])
        return EnrollmentView.model_validate(view(found))

    @router.post(
        "/enrollments/{enrollment_id}/completion",
        response_model=EnrollmentView,
        summary="Report a finished course and its assessment",
    )
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

    @router.put(
        "/enrollments/{enrollment_id}/outcome",
        response_model=EnrollmentView,
        summary="Report (or correct) the outcome after a course",
    )
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

    @router.post(
        "/enrollments/{enrollment_id}/withdrawal",
        response_model=EnrollmentView,
        summary="Withdraw an open enrolment, with a reason",
    )
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

    @router.post(
        "/institutions",
        status_code=201,
        response_model=InstitutionView,
        summary="Accredit an institution",
        responses={201: {"links": INSTITUTION_LINKS}},
    )
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
    async def institutions(request: Request) -> list[InstitutionView]:
        async with request.app.state.runtime.pool.acquire() as conn:
            return [InstitutionView.model_validate(i) for i in await EnrollmentStore(conn).institutions()]

    @router.get("/institutions/{institution_id}", summary="One institution: its mode and status")
    async def institution(request: Request, institution_id: UUID) -> InstitutionView:
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await EnrollmentStore(conn).institution(institution_id)
        if found is None:
            raise ApiError(404, "institution_not_found", f"no institution {institution_id}", "institution_id")
        return InstitutionView.model_validate(found)

    @router.post("/institutions/{institution_id}/suspension", summary="Suspend an institution")
    async def suspend(request: Request, institution_id: UUID, body: StatusChange, actor: Actor) -> InstitutionView:
        async with request.app.state.runtime.pool.acquire() as conn:
            changed = await handlers.change_status(conn, institution_id, "suspended", actor, body.reason)
        return InstitutionView.model_validate(changed)

    @router.post("/institutions/{institution_id}/reinstatement", summary="Reinstate a suspended institution")
    async def reinstate(request: Request, institution_id: UUID, body: StatusChange, actor: Actor) -> InstitutionView:
        async with request.app.state.runtime.pool.acquire() as conn:
            changed = await handlers.change_status(conn, institution_id, "active", actor, body.reason)
        return InstitutionView.model_validate(changed)

    @router.post("/institutions/{institution_id}/keys", status_code=201, summary="Issue an API key (shown once)")
    async def issue(request: Request, institution_id: UUID, actor: Actor) -> IssuedKey:
        async with request.app.state.runtime.pool.acquire() as conn:
            return IssuedKey(api_key=await handlers.issue_key(conn, institution_id, actor))

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
        since: Annotated[IsoDate | None, Query(description="first day to look at (default: 30 days ago)")] = None,
    ) -> list[FlaggedDay]:
        limits = request.app.state.policy.refusals
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await EnrollmentStore(conn).flagged(
                limits.flag_share, limits.flag_min_rows, since or plan_today() - timedelta(days=30)
            )
        return [FlaggedDay.model_validate(f) for f in found]

    @router.get(
        "/identity-lookups",
        summary="Audit: every enrolment refusal that revealed something of a person's record elsewhere",
        responses=PAGED,
    )
    async def lookups(
        request: Request,
        response: Response,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[AuditEntry]:
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await EnrollmentStore(conn).audit_entries("identity_lookup", limit + 1, offset)
        return [AuditEntry.model_validate(e) for e in paged(found, limit, offset, response)]

    @router.get(
        "/legacy-identities",
        summary="Trainees pseudonymised from a non-ASCII spelling before ID numbers were canonical: to review",
        responses=PAGED,
    )
    async def legacy(
        request: Request,
        response: Response,
        actor: Actor,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[LegacyIdentity]:
        async with request.app.state.runtime.pool.acquire() as conn:
            found = await EnrollmentStore(conn).legacy_identities(limit + 1, offset)
            shown = paged(found, limit, offset, response)
            await record_reads(conn, actor, "GET /legacy-identities", (e["trainee_id"] for e in shown))
        return [LegacyIdentity.model_validate(e) for e in shown]

    @router.get(
        "/progress",
        response_model=ProgressReport,
        response_model_exclude_unset=True,  # a tier without enrolments has no plan_progress yet
        summary="Progress against the plan's targets by tier, year, target group, institution",
    )
    async def progress_report(request: Request) -> dict[str, Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            rows = await EnrollmentStore(conn).progress()
        return progress.shape(rows, request.app.state.policy)

    return router
