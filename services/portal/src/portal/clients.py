"""The three services' APIs, called with the logged-in caller's own key: the portal holds no role's key.

A page asks through `Backend.call`; a refusal comes back as `Refusal` (its status, stable code, field and the
message in the caller's language), a service that cannot be reached or answers 5xx as `Unavailable`.
"""

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx

from portal.i18n import error_message
from portal.settings import Settings

SERVICES = ("enrollment", "funding", "talent-card")
ACTOR: ContextVar[str | None] = ContextVar("actor", default=None)
"""`X-Actor` of the calls made for the current request: `portal/<session>` (web.require sets it), so the services'
audit trails tell which portal session acted; the portal's log says which role and institution opened it."""


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


class Unavailable(Exception):
    """A service did not answer, or answered with a server error."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service}: {detail}")
        self.service = service


@dataclass
class Answer:
    body: Any
    headers: httpx.Headers


class Backend:
    def __init__(self, settings: Settings) -> None:
        self.urls = {
            "enrollment": settings.enrollment_url.rstrip("/"),
            "funding": settings.funding_url.rstrip("/"),
            "talent-card": settings.talent_card_url.rstrip("/"),
        }
        self.http = httpx.AsyncClient(timeout=settings.api_timeout_seconds)

    async def close(self) -> None:
        await self.http.aclose()

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        key: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        idempotency_key: str | None = None,
    ) -> Answer:
        headers = {"X-API-Key": key}
        actor = ACTOR.get()
        if actor:
            headers["X-Actor"] = actor
        if content_type:
            headers["Content-Type"] = content_type
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            answer = await self.http.request(
                method, self.urls[service] + path, params=clean, json=json, content=content, headers=headers
            )
        except httpx.HTTPError as error:
            raise Unavailable(service, f"{type(error).__name__}: {error}") from error
        if answer.status_code >= 500:
            raise Unavailable(service, f"HTTP {answer.status_code}")
        body: Any = answer.json() if answer.content and "json" in answer.headers.get("content-type", "") else None
        if answer.status_code >= 400:
            envelope = (body or {}).get("error", {}) if isinstance(body, dict) else {}
            code = str(envelope.get("code", f"http_{answer.status_code}"))
            raise Refusal(
                answer.status_code, code, error_message(code, str(envelope.get("message", ""))), envelope.get("field")
            )
        return Answer(body, answer.headers)

    async def get(self, service: str, path: str, key: str, **params: Any) -> Any:
        return (await self.call(service, "GET", path, key, params=params)).body

    async def post(self, service: str, path: str, key: str, body: Any = None, **kwargs: Any) -> Any:
        return (await self.call(service, "POST", path, key, json=body, **kwargs)).body

    async def all_pages(self, service: str, path: str, key: str, limit: int = 1000, **params: Any) -> list[Any]:
        """Every page of a paginated list (the services announce the next page in X-Next-Offset)."""
        rows: list[Any] = []
        offset: int | None = 0
        while offset is not None:
            answer = await self.call(service, "GET", path, key, params={**params, "limit": limit, "offset": offset})
            rows.extend(answer.body)
            following = answer.headers.get("X-Next-Offset")
            offset = int(following) if following else None
        return rows

    async def who(self, key: str) -> tuple[str, tuple[Any, str] | None] | None:
        """The role a key opens, asked of the services themselves (the portal knows no key):
        (role, (institution id, name) for an institution) or None."""
        probes = (
            ("institution", "enrollment", "/institution"),
            ("bureau", "enrollment", "/institutions"),
            ("finance", "funding", "/fund"),
            ("talent_office", "talent-card", "/notices/summary"),
        )
        for role, service, path in probes:
            try:
                body = await self.get(service, path, key)
            except Refusal:
                continue
            if role == "institution":
                return role, (body["id"], body["name"])
            return role, None
        return None
