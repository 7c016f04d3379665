"""What every page shares: who is looking (the session), the role a page needs, CSRF-checked forms, rendering
in the caller's language, charts, and the exports of a page's tables.

Pages are server-rendered (Jinja2). Live updates: each page listens to `/live` (server-sent events) and, when the
read model moves, fetches itself again and swaps the elements marked `data-live` (static/app.js); forms are never
swapped, so nothing being typed is lost.
"""

import json
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from uuid import UUID

from cryptography.exceptions import InvalidTag
from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context
from starlette.datastructures import FormData
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal import i18n
from portal.clients import ACTOR, Backend, Refusal
from portal.security import CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE, Sealer, new_token, same, token_hash
from portal.store import PortalStore
from portal.tables import FORMATS, Table, export, translate_code

HERE = Path(__file__).parent
ROLES = ("bureau", "finance", "talent_office", "institution")
HOME = {"bureau": "/bureau", "finance": "/finance", "talent_office": "/talent", "institution": "/institution"}

templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(HERE / "templates"), extensions=["jinja2.ext.i18n"], autoescape=True)
)
templates.env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
templates.env.globals["error_message"] = i18n.error_message
ROLE_LABELS = {
    "bureau": i18n.N_("Human Resources and Social Security Bureau"),
    "finance": i18n.N_("Finance office"),
    "talent_office": i18n.N_("Talent office"),
    "institution": i18n.N_("Training institution"),
}
templates.env.filters["role_label"] = lambda role: ROLE_LABELS.get(role, role)


_RENDERING: ContextVar[dict[str, Any] | None] = ContextVar("portal_rendering", default=None)
"""The variables of the page being rendered: a macro imported without `with context` sees none of them."""


def page_var(name: str) -> Any:
    """`page_var("csrf")` in a macro: the page's own variable, however the macro was imported."""
    return (_RENDERING.get() or {}).get(name)


templates.env.globals["page_var"] = page_var


@pass_context
def export_url(context: Any, table_id: str, fmt: str) -> str:
    """The page's own URL (its filters kept) asking for one table as a file."""
    request: Request = context.get("request") or page_var("request")
    params = {k: v for k, v in request.query_params.items() if k not in ("export", "format", "ok")}
    return f"{request.url.path}?{urlencode({**params, 'export': table_id, 'format': fmt})}"


templates.env.globals["export_url"] = export_url
templates.env.globals["code_text"] = translate_code


@dataclass(frozen=True)
class Viewer:
    """The logged-in caller: their role, their institution (institutions only) and their own API key."""

    role: str
    key: str
    csrf: str
    token_hash: bytes
    institution_id: UUID | None = None
    institution_name: str | None = None


@dataclass
class Chart:
    """An Apache ECharts option, drawn by static/app.js in the element with this id."""

    id: str
    option: dict[str, Any]
    height: int = 320

    def json(self) -> str:
        return json.dumps(self.option, ensure_ascii=False, default=str)


@dataclass
class Flash:
    kind: str  # ok | error
    text: str  # already translated
    field: str | None = None


@dataclass
class Ctx:
    """What a page handler gives `page()` besides its own template variables."""

    tables: Sequence[Table] = ()
    charts: Sequence[Chart] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class LoginNeeded(Exception):
    pass


class WrongRole(Exception):
    pass


class BadForm(Exception):
    """A form that fails the CSRF check or is not a form: 403/400 with a page saying so."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code


def store_of(request: Request) -> Callable[[], Any]:
    """`async with store_of(request)() as store:` a PortalStore on a pooled connection, in a transaction."""
    import contextlib

    @contextlib.asynccontextmanager
    async def opened() -> Any:
        async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
            yield PortalStore(conn)

    return opened


def backend(request: Request) -> Backend:
    return request.app.state.backend  # type: ignore[no-any-return]


async def current_viewer(request: Request) -> Viewer | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    hashed = token_hash(token)
    async with store_of(request)() as store:
        session = await store.session(hashed)
    if session is None:
        return None
    sealer: Sealer = request.app.state.sealer
    try:
        key = sealer.open(session.key_sealed, hashed)
    except InvalidTag:  # the portal's secret changed since: the session is worthless
        return None
    return Viewer(session.role, key, session.csrf, hashed, session.institution_id, session.institution_name)


def require(*roles: str) -> Any:
    """A dependency: the viewer, who must be logged in (else to the log-in page) with one of `roles` (else 403)."""

    async def dependency(request: Request) -> Viewer:
        viewer = await current_viewer(request)
        if viewer is None:
            raise LoginNeeded()
        if viewer.role not in roles:
            raise WrongRole()
        request.state.viewer = viewer
        ACTOR.set(f"portal/{viewer.token_hash.hex()[:12]}")  # the services' audit trails name the session
        return viewer

    return Depends(dependency)


def csrf_token(request: Request, viewer: Viewer | None) -> str:
    return viewer.csrf if viewer else request.scope.get("portal.csrf", "")


async def checked_form(request: Request, viewer: Viewer | None) -> FormData:
    """The posted form, if it carries this session's CSRF token (or, before log-in, the browser's) and comes
    from this site (Origin, when the browser sends it). Anything else is refused before it does anything."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise BadForm(403, "cross_site_form")
    if origin == "null":
        raise BadForm(403, "cross_site_form")
    try:
        form = await request.form()
    except Exception as error:  # not a form at all, or a broken multipart body
        raise BadForm(400, "invalid_form") from error
    sent = form.get("csrf")
    expected = viewer.csrf if viewer else request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not same(sent, expected):
        raise BadForm(403, "csrf_token_invalid")
    return form


def safe_next(target: str | None, fallback: str) -> str:
    """Only a path of this site (no scheme, no host, no `//`): a log-in never redirects elsewhere. No control
    character either: a browser drops tabs and newlines from a URL, so `/<TAB>/evil` would read as `//evil`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return fallback
    return target


def page(
    request: Request,
    template: str,
    viewer: Viewer | None,
    ctx: Ctx | None = None,
    status: int = 200,
    flash: Flash | None = None,
    **variables: Any,
) -> Response:
    """Render `template`, or, with `?export=<table id>&format=csv|xlsx`, send that table as a file."""
    ctx = ctx or Ctx()
    wanted, fmt = request.query_params.get("export"), request.query_params.get("format", "csv")
    if wanted is not None and template != "error.html":  # an error page (e.g. `?export=` of no table) is a page
        table = next((t for t in ctx.tables if t.id == wanted), None)
        if table is None or fmt not in FORMATS:
            return page(
                request,
                "error.html",
                viewer,
                status=404,
                code="export_not_found",
                detail=i18n.gettext("No such table."),
            )
        body, media = export(table, fmt)
        name = f"{table.id}-{datetime.now(UTC):%Y%m%d-%H%M%S}.{fmt}"
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
    ok = request.query_params.get("ok")
    if flash is None and ok:
        flash = Flash("ok", i18n.gettext(OK_MESSAGES.get(ok, "Done.")))
    values = {
        "viewer": viewer,
        "lang": i18n.LANG.get(),
        "csrf": csrf_token(request, viewer),
        "tables": {t.id: t for t in ctx.tables},
        "charts": {c.id: c for c in ctx.charts},
        "flash": flash,
        "home": HOME,
        "path": request.url.path,
        "query": request.url.query,
        **ctx.extra,
        **variables,
    }
    rendering = _RENDERING.set({**values, "request": request})
    try:
        response: Response = templates.TemplateResponse(request, template, values, status_code=status)
    finally:
        _RENDERING.reset(rendering)
    return response


OK_MESSAGES: dict[str, str] = {}
"""`?ok=<name>` after a form's redirect: the English message id shown (pages register theirs at import)."""


def refusal_flash(error: Exception) -> Flash:
    """A form's refusal as the page shows it: the portal's own check (an English message id, translated here)
    or a service's refusal (already in the caller's language)."""
    message, field = str(getattr(error, "message", error)), getattr(error, "field", None)
    return Flash("error", i18n.gettext(message) if not isinstance(error, Refusal) else message, field)


def refusal_status(error: Exception) -> int:
    """422 for the portal's own checks, the service's status for its refusals."""
    return error.status if isinstance(error, Refusal) else 422


def done(target: str, name: str, message: str) -> RedirectResponse:
    """After a form succeeded: 303 to `target`, which shows `message` (an English message id)."""
    OK_MESSAGES[name] = message
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{joiner}ok={quote(name)}", status_code=303)


class Edge:
    """Pure ASGI: the request's language (cookie `lang`, default zh), a CSRF cookie for visitors who are not
    logged in yet, and the security headers of every answer (a CSP allowing only this site)."""

    CSP = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    )

    def __init__(self, app: ASGIApp, secure_cookies: bool = False) -> None:
        self.app, self.secure = app, secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        token = cookies.get(CSRF_COOKIE)
        fresh = token is None or len(token) > 100
        if fresh:
            token = new_token()
        scope["portal.csrf"] = token
        language = i18n.LANG.set(i18n.pick(cookies.get(LANG_COOKIE)))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = {
                    b"content-security-policy": self.CSP.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"same-origin",
                    b"x-frame-options": b"DENY",
                }
                if b"cache-control" not in names:
                    extra[b"cache-control"] = b"no-store"
                headers += [(k, v) for k, v in extra.items() if k not in names]
                if fresh:
                    secure = "; Secure" if self.secure else ""
                    cookie = f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
                    headers.append((b"set-cookie", cookie.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            i18n.LANG.reset(language)


def _cookies(scope: Scope) -> dict[str, str]:
    from http.cookies import SimpleCookie

    found: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                continue
            found.update({k: m.value for k, m in jar.items()})
    return found


Handler = Callable[..., Awaitable[Response]]
