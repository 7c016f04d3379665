"""The FastAPI shell of a service: lifespan around `running`, /health, and error responses."""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from pathlib import Path as FilePath
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

from plan_runtime.consumer import Inbox
from plan_runtime.dead_letters import list_dead_letters, list_parked, replay, retry_parked
from plan_runtime.errors import ApiError
from plan_runtime.limits_http import BodyLimit
from plan_runtime.metrics import CONTENT_TYPE_LATEST, Metrics
from plan_runtime.service import running
from plan_runtime.settings import RuntimeSettings


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


def error_body(code: str, message: str, field: str | None, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field, **extra}}


async def _on_api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return JSONResponse(error_body(error.code, error.message, error.field), error.status)


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
    inboxes: Callable[[asyncpg.Pool], Sequence[Inbox]],
    routers: Sequence[APIRouter] = (),
    prepare: Callable[[asyncpg.Pool], Awaitable[None]] | None = None,
    bulk_paths: Collection[str] = (),
) -> FastAPI:
    """A FastAPI app whose lifespan runs the messaging runtime; the routes read it from app.state."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, source, migrations, inboxes, prepare) as runtime:
            app.state.runtime = runtime
            yield

    # the docs' script and style sheet ship with fastapi-offline: /docs renders on a network without internet
    app = FastAPIOffline(title=title, description=description, lifespan=lifespan, version="1")
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_invalid_request)
    app.add_middleware(BodyLimit, default=256 * 1024, bulk=16 * 1024 * 1024, bulk_paths=bulk_paths)

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
            responses={503: {"description": "not ready: `problems` says why"}},
        )

    metrics = Metrics(source)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics: readiness, outbox backlog and parked rows, consumer lag, task restarts",
        response_class=Response,
    )
    async def prometheus(request: Request) -> Response:
        report = await request.app.state.runtime.check()
        return Response(metrics.render(report), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health/live", tags=["operations"], summary="Liveness: the process answers")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    for router in routers:
        app.include_router(router, responses=ERROR_RESPONSES)  # every rejection documented, with its envelope
    return app


def dead_letter_router(guard: Callable[..., str]) -> APIRouter:
    """Operators list a service's dead letters and replay one once its cause is fixed."""
    router = APIRouter(prefix="/dead-letters", tags=["operations"], dependencies=[Depends(guard)])

    @router.get("", summary="Dead letters not yet replayed (or all, with include_replayed)")
    async def listing(
        request: Request,
        include_replayed: bool = False,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            return list(await list_dead_letters(conn, include_replayed, limit, offset))

    @router.post("/{dead_letter_id}/replay", summary="Put the original message back on its topic")
    async def replay_one(request: Request, dead_letter_id: int = Path(ge=1, le=2**62)) -> dict[str, Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            if not await replay(conn, dead_letter_id):
                raise ApiError(
                    404, "dead_letter_not_found", f"no unreplayed dead letter {dead_letter_id}", "dead_letter_id"
                )
        return {"replayed": dead_letter_id}

    parked = APIRouter(prefix="/outbox/parked", tags=["operations"], dependencies=[Depends(guard)])

    @parked.get("", summary="Outbox rows the broker refused for good, with their errors")
    async def parked_rows(request: Request, limit: int = Query(100, ge=1, le=1000)) -> list[Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            return list(await list_parked(conn, limit))

    @parked.post("/{row_id}/retry", summary="Give a parked row back to the relay (after fixing its cause)")
    async def retry_one(request: Request, row_id: int = Path(ge=1, le=2**62)) -> dict[str, Any]:
        async with request.app.state.runtime.pool.acquire() as conn:
            if not await retry_parked(conn, row_id):
                raise ApiError(404, "parked_row_not_found", f"no parked outbox row {row_id}", "row_id")
        request.app.state.runtime.relay.wake()
        return {"retrying": row_id}

    router.include_router(parked)
    return router
