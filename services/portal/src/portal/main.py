"""Composition root of the portal: the only place that knows every concrete part.

The portal is a fourth service with its own schema: it consumes the plan's events into a read model (no page
joins another service's schema), keeps its sessions, and calls the three services' APIs with the logged-in
caller's own key for everything that is theirs (lists, decisions, forms).
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from plan_runtime.consumer import Inbox
from plan_runtime.limits_http import BodyLimit
from plan_runtime.service import running
from portal import i18n, projection
from portal.clients import Backend, Refusal, Unavailable
from portal.live import Watcher, live_router
from portal.pages.auth import auth_router
from portal.pdf import FontMissing
from portal.security import Sealer
from portal.settings import Settings
from portal.store import PortalStore
from portal.web import BadForm, Edge, LoginNeeded, WrongRole, current_viewer, page

HERE = Path(__file__).parent
UPLOADS = ("/institution/uploads",)  # the routes that take a file
log = logging.getLogger(__name__)


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def inboxes(pool: object) -> list[Inbox]:
            return [Inbox(settings.consumer_group or "portal", "portal", pool, projection.consumes(), PortalStore)]  # type: ignore[arg-type]

        async with running(settings, "portal", HERE / "migrations", inboxes) as runtime:
            app.state.runtime = runtime
            app.state.backend = Backend(settings)
            watcher = app.state.watcher = Watcher()
            watching = asyncio.create_task(watcher.run(runtime.pool, settings.live_poll_seconds), name="portal-live")
            try:
                yield
            finally:
                watching.cancel()
                await asyncio.gather(watching, return_exceptions=True)
                await app.state.backend.close()

    app = FastAPI(
        title="Portal",
        description="Web pages of the plan for the Bureau, finance, the talent office, institutions and the public.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.sealer = Sealer(settings.portal_session_secret.get_secret_value())
    # bodies are bounded before they are read: 64 KiB for a form, 16 MiB for an upload (enrollment's own limit)
    app.add_middleware(BodyLimit, default=64 * 1024, bulk=16 * 1024 * 1024, bulk_paths=UPLOADS, require_key=False)
    app.add_middleware(Edge, secure_cookies=settings.cookie_secure)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(auth_router())
    app.include_router(live_router())
    for router in _page_routers():
        app.include_router(router)
    _errors(app)

    @app.get("/health", include_in_schema=False)
    @app.get("/health/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        report = await request.app.state.runtime.check()
        return JSONResponse(report, 200 if report["status"] == "ok" else 503)

    @app.get("/health/live", include_in_schema=False)
    async def alive() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app


def _page_routers() -> list[APIRouter]:
    """Each role's pages (portal.pages.<role>.router()); a module not written yet is simply absent."""
    import importlib

    routers = []
    for name in ("bureau", "finance", "talent", "institution", "public"):
        try:
            module = importlib.import_module(f"portal.pages.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"portal.pages.{name}":
                raise
            continue
        routers.append(module.router())  # each page module's router()
    return routers


def _errors(app: FastAPI) -> None:
    async def problem(request: Request, status: int, code: str, detail: str, title: str | None = None) -> Response:
        viewer = await current_viewer(request) if status not in (503,) else None
        return page(request, "error.html", viewer, status=status, code=code, detail=detail, title=title)

    @app.exception_handler(LoginNeeded)
    async def login_needed(request: Request, _: LoginNeeded) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = request.url.path
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    @app.exception_handler(WrongRole)
    async def wrong_role(request: Request, _: WrongRole) -> Response:
        return await problem(
            request, 403, "wrong_role", i18n.gettext("This page belongs to another role."), i18n.gettext("Not yours")
        )

    @app.exception_handler(BadForm)
    async def bad_form(request: Request, error: BadForm) -> Response:
        text = {
            "csrf_token_invalid": i18n.gettext(
                "The form had expired or did not come from this site. Reload the page and try again."
            ),
            "cross_site_form": i18n.gettext("The form did not come from this site."),
            "invalid_form": i18n.gettext("The form could not be read."),
        }[error.code]
        return await problem(request, error.status, error.code, text)

    @app.exception_handler(Refusal)
    async def refused(request: Request, error: Refusal) -> Response:
        return await problem(request, error.status, error.code, error.message)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, error: Unavailable) -> Response:
        log.warning("portal: %s", error)
        return await problem(
            request,
            503,
            "unavailable",
            i18n.gettext("A service is not answering; try again shortly.") + f" ({error.service})",
        )

    @app.exception_handler(FontMissing)
    async def font_missing(request: Request, error: FontMissing) -> Response:
        log.error("portal: %s", error)
        return await problem(
            request, 503, "pdf_font_missing", i18n.gettext("PDF files cannot be made on this server now.")
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return await problem(request, 422, "invalid_request", i18n.gettext("This value is not valid:") + f" {where}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 404:
            return await problem(request, 404, "not_found", i18n.gettext("There is no such page."))
        if error.status_code == 405:
            return await problem(request, 405, "method_not_allowed", i18n.gettext("This page cannot be used that way."))
        return await problem(request, error.status_code, f"http_{error.status_code}", str(error.detail))
