"""The FastAPI shell of a service: lifespan around `running`, /health, and error responses."""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import date, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.exceptions import HTTPException

from plan_events import Event
from plan_runtime.consumer import Handlers, Inbox
from plan_runtime.db import Connection
from plan_runtime.dead_letters import list_dead_letters, list_parked, replay, retry_parked
from plan_runtime.docs_policy import DocsPolicy
from plan_runtime.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, TooLarge, Unauthorized
from plan_runtime.limits_http import Authenticate, BodyLimit
from plan_runtime.metrics import CONTENT_TYPE_LATEST, Metrics
from plan_runtime.service import running
from plan_runtime.settings import RuntimeSettings
from plan_runtime.unit import Unit, unit_of_work


class View(BaseModel):
    """A response body: the fields a route answers with, documented in the OpenAPI document."""

    model_config = ConfigDict(extra="ignore")


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, for programs: e.g. invalid_request, unauthorized, enrolled_elsewhere")
    message: str = Field(description="for people")
    field: str | None = Field(description="the field, header or parameter at fault")


class ErrorEnvelope(BaseModel):
    """Every rejection (4xx) has this body."""

    error: ErrorDetail


_STATUS = {
    401: "X-API-Key missing or not valid for this route",
    403: "the caller may not do this now (e.g. a suspended institution)",
    404: "no such resource for this caller",
    409: "refused by a rule: the code says which",
    413: "the body is larger than this route accepts",
    422: "a field, parameter or row is invalid: the field is named",
}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description} for status, description in _STATUS.items()
}


NEXT_OFFSET = "X-Next-Offset"
PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "a page; nothing is cut off silently: when there is more, `X-Next-Offset` says where it goes on",
        "headers": {
            NEXT_OFFSET: {
                "description": "the `offset` of the next page; absent on the last page",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}
T = TypeVar("T")


def paged(rows: Sequence[T], limit: int, offset: int, response: Response) -> list[T]:
    """`rows` were fetched with `limit + 1`: a row beyond the page means a next page, announced in a header."""
    if len(rows) > limit:
        response.headers[NEXT_OFFSET] = str(offset + limit)
    return list(rows[:limit])


class PartHealth(View):
    ok: bool
    detail: str
    at: datetime


class ConsumerHealth(View):
    task_alive: bool
    partitions_assigned: int
    seconds_since_last_poll: float | None
    lag: int | None
    restarts: int


class RelayHealth(View):
    task_alive: bool
    unpublished: int | None = Field(default=None, description="absent when the database did not answer")
    parked: int | None = Field(default=None, description="absent when the database did not answer")
    oldest_unpublished_seconds: float | None = None
    restarts: int


class Readiness(View):
    status: Literal["ok", "unhealthy"]
    problems: list[str]
    consumers: dict[str, ConsumerHealth]
    relay: RelayHealth
    parts: dict[str, PartHealth]


class Liveness(View):
    status: Literal["alive"]


class DeadLetterView(View):
    id: int
    consumer: str
    topic: str
    partition: int
    offset: int
    key: str | None = Field(description="the record's key as text: its first 200 bytes (replay sends it whole)")
    error: str
    created_at: datetime
    replayed_at: datetime | None


class Replayed(View):
    replayed: int = Field(description="the dead letter put back on its topic")


class ParkedRowView(View):
    id: int
    event_id: UUID
    topic: str
    size: int = Field(description="bytes")
    attempts: int
    last_error: str | None
    created_at: datetime
    parked_at: datetime


class Retrying(View):
    retrying: int = Field(description="the outbox row given back to the relay")


def error_body(code: str, message: str, field: str | None, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field, **extra}}


STATUS_OF: dict[type[DomainError], int] = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    Invalid: 422,
}
"""The one place where a domain error becomes an HTTP status."""


def status_of(error: DomainError) -> int:
    return next((STATUS_OF[kind] for kind in type(error).__mro__ if kind in STATUS_OF), 409)


async def _on_domain_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    return JSONResponse(error_body(error.code, error.message, error.field), status_of(error))


Transaction = Annotated[Unit, unit_of_work(Unit)]
"""The runtime's own unit of work (outbox, inbox, dead letters) for its routes; services use their store's."""


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
}


async def _on_http_error(_: Request, error: Exception) -> Response:
    """Starlette's and FastAPI's own refusals (no such path, another method, a body that is not JSON at all)
    get the error envelope too; a body that cannot be parsed is a 422 like any other invalid body."""
    assert isinstance(error, HTTPException)
    status, message, field = error.status_code, str(error.detail), None
    if status == 400 and message == "There was an error parsing the body":
        return JSONResponse(error_body("invalid_request", "the body is not valid JSON", "body"), 422)
    if status < 400 or status in (204, 304):
        return Response(status_code=status, headers=error.headers)
    code = _HTTP_CODES.get(status, "http_error")
    return JSONResponse(error_body(code, message, field), status, headers=error.headers)


def _iso_date(value: object) -> object:
    """A date parameter is YYYY-MM-DD: not a timestamp, not a number."""
    if isinstance(value, str) and not (len(value) == 10 and value[4] == "-" and value[7] == "-"):
        raise ValueError("must be a date as YYYY-MM-DD")
    if isinstance(value, int | float):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


async def _on_invalid_request(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]} for e in error.errors()
    ]
    first = problems[0] if problems else {"field": None, "message": "invalid request"}
    return JSONResponse(
        error_body("invalid_request", f"{first['field']}: {first['message']}", first["field"], problems=problems),
        422,
    )


def service_app(
    *,
    title: str,
    description: str,
    settings: RuntimeSettings,
    source: str,
    migrations: FilePath,
    consumes: Handlers | None = None,
    unit: Callable[[Connection, list[Event]], Unit] = Unit,
    routers: Sequence[APIRouter] = (),
    prepare: Callable[[asyncpg.Pool], Awaitable[None]] | None = None,
    bulk_paths: Collection[str] = (),
    authenticate: Authenticate | None = None,
) -> FastAPI:
    """A FastAPI app whose lifespan runs the messaging runtime; the routes read it from app.state."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def inboxes(pool: asyncpg.Pool) -> list[Inbox]:  # one consumer group per service, named after it
            return [Inbox(settings.consumer_group or source, source, pool, consumes, unit)] if consumes else []

        async with running(settings, source, migrations, inboxes, prepare) as runtime:
            app.state.runtime = runtime
            yield

    # the docs' script and style sheet ship with fastapi-offline: /docs renders on a network without internet.
    # No /redoc: ReDoc's bundle asks a CDN for its logo on every page view, whatever the options
    app = FastAPIOffline(
        title=title,
        description=description,
        lifespan=lifespan,
        version="1",
        redoc_url=None,
        redirect_slashes=False,  # `/enrollments/` (an empty id) is a 404 with the envelope, not a 307 elsewhere
    )
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_invalid_request)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_middleware(DocsPolicy)  # the documentation pages load only from this service
    # a key that is no valid key of any of the service's roles is refused (401) before the body is read
    app.add_middleware(
        BodyLimit, default=256 * 1024, bulk=16 * 1024 * 1024, bulk_paths=bulk_paths, authenticate=authenticate
    )

    async def ready(request: Request) -> JSONResponse:
        report = await request.app.state.runtime.check()
        return JSONResponse(report, 200 if report["status"] == "ok" else 503)

    for path, summary in (
        ("/health/ready", "Readiness: database, broker, each consumer (alive, assigned, polling, lag) and the relay"),
        ("/health", "The same as /health/ready"),
    ):
        app.add_api_route(
            path,
            ready,
            methods=["GET"],
            tags=["operations"],
            summary=summary,
            response_model=Readiness,
            responses={503: {"model": Readiness, "description": "not ready: `problems` says why"}},
        )

    metrics = Metrics(source)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics: readiness, outbox backlog and parked rows, consumer lag, task restarts",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus(request: Request) -> Response:
        report = await request.app.state.runtime.check()
        return Response(metrics.render(report), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health/live", tags=["operations"], summary="Liveness: the process answers")
    async def live() -> Liveness:
        return Liveness(status="alive")

    for router in routers:
        app.include_router(router, responses=ERROR_RESPONSES)  # every rejection documented, with its envelope
    return app


def dead_letter_router(guard: Callable[..., str]) -> APIRouter:
    """Operators list a service's dead letters and replay one once its cause is fixed."""
    router = APIRouter(prefix="/dead-letters", tags=["operations"], dependencies=[Depends(guard)])

    @router.get(
        "",
        summary="Dead letters not yet replayed (or all, with include_replayed)",
        responses={
            200: {
                **PAGED[200],
                "links": {
                    "Replay": {
                        "operationId": "replay_one_dead_letters__dead_letter_id__replay_post",
                        "parameters": {"dead_letter_id": "$response.body#/0/id"},
                    }
                },
            }
        },
    )
    async def listing(
        unit: Transaction,
        response: Response,
        include_replayed: bool = False,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[DeadLetterView]:
        found = await list_dead_letters(unit.conn, include_replayed, limit + 1, offset)
        return [DeadLetterView.model_validate(d, from_attributes=True) for d in paged(found, limit, offset, response)]

    @router.post("/{dead_letter_id}/replay", summary="Put the original message back on its topic")
    async def replay_one(unit: Transaction, dead_letter_id: int = Path(ge=1, le=2**62)) -> Replayed:
        if not await replay(unit.conn, dead_letter_id):
            raise NotFound("dead_letter_not_found", f"no unreplayed dead letter {dead_letter_id}", "dead_letter_id")
        return Replayed(replayed=dead_letter_id)

    parked = APIRouter(prefix="/outbox/parked", tags=["operations"], dependencies=[Depends(guard)])

    @parked.get("", summary="Outbox rows the broker refused for good, with their errors", responses=PAGED)
    async def parked_rows(
        unit: Transaction,
        response: Response,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[ParkedRowView]:
        found = await list_parked(unit.conn, limit + 1, offset)
        return [ParkedRowView.model_validate(p, from_attributes=True) for p in paged(found, limit, offset, response)]

    @parked.post("/{row_id}/retry", summary="Give a parked row back to the relay (after fixing its cause)")
    async def retry_one(request: Request, unit: Transaction, row_id: int = Path(ge=1, le=2**62)) -> Retrying:
        if not await retry_parked(unit.conn, row_id):
            raise NotFound("parked_row_not_found", f"no parked outbox row {row_id}", "row_id")
        request.app.state.runtime.relay.wake()  # the relay looks again after a short poll if this is before the commit
        return Retrying(retrying=row_id)

    router.include_router(parked)
    return router
