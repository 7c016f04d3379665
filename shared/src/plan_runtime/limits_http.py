"""Bounded request bodies, refused early: a pure ASGI middleware in front of every service.

- A request without `X-API-Key` on a route that needs one, or with a key that is no valid key of any of the
  service's roles (`authenticate`: role keys compared in constant time, institution keys looked up in the
  database on every request, so a revoked key stops working at once), is answered 401 before any byte of
  its body is read. The routes' own dependencies still decide which role may use which route.
- A declared `Content-Length` over the route's limit is answered 413 before the body is read.
- A body sent without a length (chunked) is counted while it arrives and refused with 413 as soon as it
  passes the limit: it is never buffered whole.
Every refusal carries the error envelope. Limits: `bulk` bytes for the bulk upload routes, `default` for
every other route.
"""

import json
import logging
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Authenticate = Callable[[str], Awaitable[bool]]  # is this a valid key of any role of the service?

log = logging.getLogger(__name__)

# no key needed (prefixes): operations, and the API documentation with its offline assets
OPEN_PATHS = ("/health", "/metrics", "/docs", "/openapi.json", "/static-offline-docs")


class _TooLarge(BaseException):  # not an Exception: FastAPI would turn it into a 400
    pass


async def _answer(send: Send, status: int, code: str, message: str, field: str | None) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "field": field}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app: ASGIApp, default: int = 64 * 1024, bulk: int = 16 * 1024 * 1024,
                 bulk_paths: Collection[str] = (), authenticate: Authenticate | None = None,
                 require_key: bool = True) -> None:  # fmt: skip
        """`require_key=False`: only the size limits (the portal: its callers carry a session cookie, no key)."""
        self.app, self.default, self.bulk, self.bulk_paths = app, default, bulk, frozenset(bulk_paths)
        self.authenticate, self.require_key = authenticate, require_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if self.require_key and not path.startswith(OPEN_PATHS):
            key = headers.get(b"x-api-key")
            if key is None:
                await _answer(send, 401, "unauthorized", "X-API-Key is missing", "X-API-Key")
                return
            if self.authenticate is not None:
                try:
                    valid = await self.authenticate(key.decode("latin-1"))
                except Exception:  # the database is unreachable: nobody can be authenticated now
                    log.exception("authentication failed")
                    await _answer(send, 503, "unavailable", "keys cannot be checked now; retry later", "X-API-Key")
                    return
                if not valid:
                    await _answer(send, 401, "unauthorized", "X-API-Key is not a valid key", "X-API-Key")
                    return
        limit = self.bulk if path in self.bulk_paths else self.default
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _answer(send, 400, "invalid_content_length", "Content-Length is not a number", "Content-Length")
                return
            if length > limit:
                await _answer(send, 413, "body_too_large", f"the body is {length} bytes; at most {limit}", "body")
                return
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _answer(send, 413, "body_too_large", f"the body is over {limit} bytes", "body")
