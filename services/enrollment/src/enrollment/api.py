"""HTTP routes for institutions and the Bureau: parse, authorise, call one use case (or a store read) on the
unit of work, shape the answer. No SQL, no audit and no error translation here."""

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from enrollment import cohort, handlers, progress
from enrollment.access import Institution, institution, must_be_active
from enrollment.domain import Enrollment, EnrollmentStatus, InstitutionMode, InstitutionStatus, institution_not_found
from enrollment.ports import Store
from enrollment.requests import (
    CompletionItem,
    CompletionRequest,
    EnrolRequest,
    InstitutionRequest,
    OutcomeRequest,
    StatusChange,
    WithdrawalItem,
    WithdrawalRequest,
)
from enrollment.store import PostgresStore
from enrollment.views import (
    AuditEntry,
    EnrollmentView,
    FlaggedDay,
    InstitutionView,
    IssuedKey,
    LegacyIdentity,
    ProgressReport,
    UploadSummary,
    enrollment_body,
    institution_body,
    upload_summary,
)
from plan_events import Tier
from plan_events.calendar import plan_today
from plan_runtime.errors import DomainError, Invalid
from plan_runtime.http import PAGED, IsoDate, error_body, paged, status_of
from plan_runtime.unit import unit_of_work

Caller = Annotated[Institution, Depends(institution)]
UnitOfWork = Annotated[Store, unit_of_work(PostgresStore)]
IdempotencyKey = Annotated[str | None, Header(max_length=200, description="retry-safe writes: same key, same answer")]


async def idempotent(
    request: Request,
    store: Store,
    principal: str,
    key: str | None,
    status: int,
    action: Callable[[Store], Awaitable[Any]],
    keep_refusals: bool = False,
) -> JSONResponse:
    """Run `action` on the unit of work once per (caller, Idempotency-Key): a retry gets the first answer, and
    nothing new. The key, what the action wrote and what it published commit together.

    With `keep_refusals`, an action that refuses (a domain error) still commits what it wrote before refusing
    — the audit of what the refusal revealed and the day's refusal count — and its answer is remembered."""
    fingerprint = getattr(request.state, "fingerprint", None)  # a bulk upload's, hashed as it streamed in
    fingerprint = fingerprint or hashlib.sha256(request.url.path.encode() + b"\n" + await request.body()).hexdigest()
    if key is not None:
        first = await store.claim_idempotency_key(principal, key, fingerprint)
        if first is not None:
            if first.request_hash != fingerprint:
                raise Invalid(
                    "idempotency_key_reused", "this Idempotency-Key was used for a different request", "Idempotency-Key"
                )
            return JSONResponse(first.body, first.status_code, headers={"Idempotent-Replay": "true"})
    try:
        body = await action(store)
    except DomainError as refusal:
        if not keep_refusals:
            raise
        body, status = error_body(refusal.code, refusal.message, refusal.field), status_of(refusal)
    if key is not None:
        await store.remember_response(principal, key, status, body)
    return JSONResponse(body, status)


BULK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}},
    }
}


Uploading = Annotated[None, Depends(cohort.uploads.slot)]


async def bulk_rows(request: Request, model: type[cohort.Row]) -> list[cohort.Row | cohort.RowError]:
    """Parsed off the event loop as the body streams in (never buffered whole); refused as soon as it is
    unreadable or passes the row limit (413 too_many_rows), before anything is written."""
    digest = hashlib.sha256(request.url.path.encode() + b"\n")

    async def hashed() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            digest.update(chunk)
            yield chunk

    rows = await cohort.parse_stream(hashed(), request.headers.get("content-type", ""), model)
    request.state.fingerprint = digest.hexdigest()  # for `idempotent`: the body is not kept
    return rows


# Dependencies, declared before the unit of work in the bulk routes: the body is parsed before a pooled
# connection is taken, so a slow uploader never holds one.
async def cohort_rows(request: Request, who: Caller, _: Uploading) -> list[EnrolRequest | cohort.RowError]:
    must_be_active(who)
    return await bulk_rows(request, EnrolRequest)


async def completion_rows(request: Request, who: Caller, _: Uploading) -> list[CompletionItem | cohort.RowError]:
    return await bulk_rows(request, CompletionItem)


async def withdrawal_rows(request: Request, who: Caller, _: Uploading) -> list[WithdrawalItem | cohort.RowError]:
    return await bulk_rows(request, WithdrawalItem)


CohortRows = Annotated[list[EnrolRequest | cohort.RowError], Depends(cohort_rows)]
CompletionRows = Annotated[list[CompletionItem | cohort.RowError], Depends(completion_rows)]
WithdrawalRows = Annotated[list[WithdrawalItem | cohort.RowError], Depends(withdrawal_rows)]


async def summarised(pending: Awaitable[list[handlers.RowResult]]) -> dict[str, Any]:
    return upload_summary(await pending)


async def viewed(pending: Awaitable[Enrollment]) -> dict[str, Any]:
    """An enrolment a use case answers with, as JSON (the retry-safe writes remember it)."""
    return enrollment_body(await pending)


async def one_row(
    store: Store, who: Institution, enrollment_id: UUID, pending: Awaitable[list[handlers.RowResult]]
) -> dict[str, Any]:
    """A bulk use case run on one row for a single route: its refusal is the request's; else the enrolment as it
    now is, as JSON."""
    handlers.only(await pending)
    found = await store.enrollment(enrollment_id, who.id)
    assert found is not None
    return enrollment_body(found)


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
        request: Request, body: EnrolRequest, who: Caller, store: UnitOfWork, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        must_be_active(who)
        state = request.app.state

        async def action(store: Store) -> Any:
            result = handlers.only(await handlers.enrol(store, who.id, [body], state.policy, state.pii_key))
            assert result.enrollment_id is not None
            found = await store.enrollment(result.enrollment_id, who.id)
            assert found is not None
            return enrollment_body(found)

        return await idempotent(request, store, str(who.id), idempotency_key, 201, action, keep_refusals=True)

    @router.post(
        "/cohorts",
        summary="Enrol a cohort: CSV (text/csv) or JSON lines (application/x-ndjson)",
        response_model=UploadSummary,
        openapi_extra=BULK_BODY,
    )
    async def upload(
        request: Request, who: Caller, rows: CohortRows, store: UnitOfWork, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        state = request.app.state
        return await idempotent(
            request,
            store,
            str(who.id),
            idempotency_key,
            200,
            lambda store: summarised(handlers.enrol(store, who.id, rows, state.policy, state.pii_key)),
        )

    @router.post(
        "/completions",
        summary="Report finished courses in bulk: CSV or JSON lines, a row per enrolment",
        response_model=UploadSummary,
        openapi_extra=BULK_BODY,
    )
    async def completions(
        request: Request, who: Caller, rows: CompletionRows, store: UnitOfWork, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        policy = request.app.state.policy
        return await idempotent(
            request,
            store,
            str(who.id),
            idempotency_key,
            200,
            lambda store: summarised(handlers.complete(store, who.id, rows, policy)),
        )

    @router.get("/institution", summary="The caller's own institution: its name, mode and status")
    async def own_institution(who: Caller, store: UnitOfWork) -> InstitutionView:
        found = await store.institution(who.id)
        if found is None:  # a key outlives nothing: institutions are never deleted
            raise institution_not_found(who.id)
        return InstitutionView.model_validate(found, from_attributes=True)

    @router.get("/enrollments", summary="The institution's own enrolments", responses=PAGED)
    async def listing(
        response: Response,
        who: Caller,
        store: UnitOfWork,
        status: Literal["open", "completed", "withdrawn"] | None = None,
        tier: Tier | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[EnrollmentView]:
        wanted = None if status is None else EnrollmentStatus(status)
        found = await handlers.enrollments_seen(store, who.id, wanted, tier, limit, offset)
        return [EnrollmentView.model_validate(e, from_attributes=True) for e in paged(found, limit, offset, response)]

    @router.get("/enrollments/{enrollment_id}", summary="One of the institution's enrolments")
    async def one(enrollment_id: UUID, who: Caller, store: UnitOfWork) -> EnrollmentView:
        found = await handlers.enrollment_seen(store, who.id, enrollment_id)
        return EnrollmentView.model_validate(found, from_attributes=True)

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
        store: UnitOfWork,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        policy = request.app.state.policy
        item = CompletionItem(enrollment_id=enrollment_id, **body.model_dump())

        return await idempotent(
            request,
            store,
            str(who.id),
            idempotency_key,
            200,
            lambda store: one_row(store, who, enrollment_id, handlers.complete(store, who.id, [item], policy)),
        )

    @router.put(
        "/enrollments/{enrollment_id}/outcome",
        response_model=EnrollmentView,
        summary="Report (or correct) the outcome after a course",
    )
    async def outcome(
        request: Request,
        enrollment_id: UUID,
        body: OutcomeRequest,
        who: Caller,
        store: UnitOfWork,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        return await idempotent(
            request,
            store,
            str(who.id),
            idempotency_key,
            200,
            lambda store: viewed(handlers.report_outcome(store, who.id, enrollment_id, body.outcome)),
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
        store: UnitOfWork,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        item = WithdrawalItem(enrollment_id=enrollment_id, reason=body.reason)

        actor = f"institution:{who.id}"
        return await idempotent(
            request,
            store,
            str(who.id),
            idempotency_key,
            200,
            lambda store: one_row(store, who, enrollment_id, handlers.withdraw(store, who.id, [item], actor)),
        )

    @router.post(
        "/withdrawals",
        summary="Withdraw open enrolments in bulk: CSV or JSON lines, a row per enrolment with its reason",
        response_model=UploadSummary,
        openapi_extra=BULK_BODY,
    )
    async def withdrawals(
        request: Request, who: Caller, rows: WithdrawalRows, store: UnitOfWork, idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        actor = f"institution:{who.id}"
        return await idempotent(
            request,
            store,
            str(who.id),
            idempotency_key,
            200,
            lambda store: summarised(handlers.withdraw(store, who.id, rows, actor)),
        )

    return router


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
        request: Request,
        body: InstitutionRequest,
        actor: Actor,
        store: UnitOfWork,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        async def action(store: Store) -> Any:
            return institution_body(await handlers.accredit(store, body.name, InstitutionMode(body.mode), actor))

        return await idempotent(request, store, "bureau", idempotency_key, 201, action)

    @router.get("/institutions", summary="All institutions")
    async def institutions(store: UnitOfWork) -> list[InstitutionView]:
        return [InstitutionView.model_validate(i, from_attributes=True) for i in await store.institutions()]

    @router.get("/institutions/{institution_id}", summary="One institution: its mode and status")
    async def institution(institution_id: UUID, store: UnitOfWork) -> InstitutionView:
        found = await store.institution(institution_id)
        if found is None:
            raise institution_not_found(institution_id)
        return InstitutionView.model_validate(found, from_attributes=True)

    @router.post("/institutions/{institution_id}/suspension", summary="Suspend an institution")
    async def suspend(institution_id: UUID, body: StatusChange, actor: Actor, store: UnitOfWork) -> InstitutionView:
        changed = await handlers.change_status(store, institution_id, InstitutionStatus.SUSPENDED, actor, body.reason)
        return InstitutionView.model_validate(changed, from_attributes=True)

    @router.post("/institutions/{institution_id}/reinstatement", summary="Reinstate a suspended institution")
    async def reinstate(institution_id: UUID, body: StatusChange, actor: Actor, store: UnitOfWork) -> InstitutionView:
        changed = await handlers.change_status(store, institution_id, InstitutionStatus.ACTIVE, actor, body.reason)
        return InstitutionView.model_validate(changed, from_attributes=True)

    @router.post("/institutions/{institution_id}/keys", status_code=201, summary="Issue an API key (shown once)")
    async def issue(institution_id: UUID, actor: Actor, store: UnitOfWork) -> IssuedKey:
        return IssuedKey(api_key=await handlers.issue_key(store, institution_id, actor))

    @router.delete("/institutions/{institution_id}/keys/{key_id}", status_code=204, summary="Revoke an API key")
    async def revoke(institution_id: UUID, key_id: str, actor: Actor, store: UnitOfWork) -> None:
        await handlers.revoke_key(store, institution_id, key_id, actor)

    @router.get(
        "/flagged-institutions",
        summary="Institutions that refused more than the policy's share of a day's rows (possible probing)",
    )
    async def flagged(
        request: Request,
        store: UnitOfWork,
        since: Annotated[IsoDate | None, Query(description="first day to look at (default: 30 days ago)")] = None,
    ) -> list[FlaggedDay]:
        limits = request.app.state.policy.refusals
        found = await store.flagged(limits.flag_share, limits.flag_min_rows, since or plan_today() - timedelta(days=30))
        return [FlaggedDay.model_validate(f, from_attributes=True) for f in found]

    @router.get(
        "/identity-lookups",
        summary="Audit: every enrolment refusal that revealed something of a person's record elsewhere",
        responses=PAGED,
    )
    async def lookups(
        response: Response,
        store: UnitOfWork,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[AuditEntry]:
        found = await store.audit_entries("identity_lookup", limit + 1, offset)
        return [AuditEntry.model_validate(e, from_attributes=True) for e in paged(found, limit, offset, response)]

    @router.get(
        "/legacy-identities",
        summary="Trainees pseudonymised from a non-ASCII spelling before ID numbers were canonical: to review",
        responses=PAGED,
    )
    async def legacy(
        response: Response,
        actor: Actor,
        store: UnitOfWork,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[LegacyIdentity]:
        found = await handlers.legacy_identities_seen(store, actor, limit, offset)
        return [LegacyIdentity.model_validate(e, from_attributes=True) for e in paged(found, limit, offset, response)]

    @router.get(
        "/progress",
        response_model=ProgressReport,
        response_model_exclude_unset=True,  # a tier without enrolments has no plan_progress yet
        summary="Progress against the plan's targets by tier, year, target group, institution",
    )
    async def progress_report(request: Request, store: UnitOfWork) -> dict[str, Any]:
        return progress.shape(await store.progress(), request.app.state.policy)

    return router
