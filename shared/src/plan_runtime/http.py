"""The FastAPI shell of a service: lifespan around `running`, /health, and error responses."""

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from plan_runtime.consumer import Inbox
from plan_runtime.service import Runtime, running
from plan_runtime.settings import RuntimeSettings


class ApiError(Exception):
    """A refusal the client can act on: a 4xx with a stable code and the field or rule at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _error_body(code: str, message: str, field: str | None, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field, **extra}}


async def _on_api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return JSONResponse(_error_body(error.code, error.message, error.field), error.status)


async def _on_invalid_request(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
        for e in error.errors()
    ]
    first = problems[0] if problems else {"field": None, "message": "invalid request"}
    return JSONResponse(
        _error_body(
            "invalid_request", f"{first['field']}: {first['message']}", first["field"], problems=problems
        ),
        422,
    )


def service_app(
    *,
    title: str,
    description: str,
    settings: RuntimeSettings,
    source: str,
    migrations: Path,
    inboxes: Callable[[asyncpg.Pool], Sequence[Inbox]],
    routers: Sequence[APIRouter] = (),
    on_start: Callable[[Runtime], Any] | None = None,
) -> FastAPI:
    """A FastAPI app whose lifespan runs the messaging runtime; the routes read it from app.state."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, source, migrations, inboxes) as runtime:
            app.state.runtime = runtime
            if on_start is not None:
                await on_start(runtime)
            yield

    app = FastAPI(title=title, description=description, lifespan=lifespan, version="1")
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_invalid_request)

    @app.get("/health", tags=["operations"], summary="Database, broker, relay and consumer status")
    async def health(request: Request) -> JSONResponse:
        report = await request.app.state.runtime.check()
        return JSONResponse(report, 200 if report["status"] == "ok" else 503)

    for router in routers:
        app.include_router(router)
    return app
