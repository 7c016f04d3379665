"""Log-in with a key (exchanged for a session cookie), log-out, the language switch, and the home page."""

import logging
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from portal import i18n
from portal.clients import Unavailable
from portal.security import LANG_COOKIE, SESSION_COOKIE, new_token, token_hash
from portal.web import HOME, Flash, checked_form, current_viewer, page, safe_next, store_of

log = logging.getLogger(__name__)


def auth_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def home(request: Request) -> Response:
        viewer = await current_viewer(request)
        if viewer is not None:
            return RedirectResponse(HOME[viewer.role], status_code=303)
        return page(request, "home.html", None)

    @router.get("/login")
    async def login_form(request: Request) -> Response:
        return page(
            request, "login.html", await current_viewer(request), next=safe_next(request.query_params.get("next"), "")
        )

    @router.post("/login")
    async def login(request: Request) -> Response:
        already = await current_viewer(request)  # a logged-in caller's log-in form carries the session's token
        form = await checked_form(request, already)
        key, target = str(form.get("key") or "").strip(), safe_next(str(form.get("next") or ""), "")

        def refused(status: int, message: str, field: str | None = None) -> Response:
            return page(request, "login.html", None, status=status, next=target, flash=Flash("error", message, field))

        if not key or len(key) > 512:
            return refused(422, i18n.gettext("Enter the key you were given."), "key")
        if not key.isascii() or not key.isprintable():  # no key has one; an HTTP header could not even carry it
            return refused(401, i18n.gettext("This key opens no page here."), "key")
        try:
            found = await request.app.state.backend.who(key)
        except Unavailable:
            return refused(503, i18n.gettext("A service is not answering; try again shortly."))
        if found is None:
            return refused(401, i18n.gettext("This key opens no page here."), "key")
        role, institution = found
        token = new_token()
        hashed = token_hash(token)
        settings = request.app.state.settings
        expires = datetime.now(UTC) + timedelta(hours=settings.session_hours)
        async with store_of(request)() as store:
            if already is not None:  # logging in again ends the session it replaces
                await store.close_session(already.token_hash)
            await store.open_session(
                hashed, role, institution, request.app.state.sealer.seal(key, hashed), new_token(), expires
            )
        log.info(
            "portal: session portal/%s opened for %s%s",
            hashed.hex()[:12],
            role,
            f" {institution[0]}" if institution else "",
        )
        answer = RedirectResponse(safe_next(target, HOME[role]) if target.startswith(HOME[role]) else HOME[role], 303)
        answer.set_cookie(
            SESSION_COOKIE, token, max_age=int(settings.session_hours * 3600), httponly=True, samesite="strict",
            secure=settings.cookie_secure, path="/",
        )  # fmt: skip
        return answer

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        viewer = await current_viewer(request)
        await checked_form(request, viewer)
        if viewer is not None:
            async with store_of(request)() as store:
                await store.close_session(viewer.token_hash)
        answer = RedirectResponse("/", status_code=303)
        answer.delete_cookie(SESSION_COOKIE, path="/")
        return answer

    @router.post("/lang")
    async def language(request: Request) -> Response:
        viewer = await current_viewer(request)
        form = await checked_form(request, viewer)
        chosen = i18n.pick(str(form.get("lang") or ""))
        answer = RedirectResponse(safe_next(str(form.get("next") or ""), "/"), status_code=303)
        answer.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax", path="/", httponly=True)
        return answer

    return router
