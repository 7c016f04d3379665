"""Who is calling: an institution (by its own key) or the Bureau (by its admin key).

A key is looked up on a connection of its own, briefly: the edge asks before any body is read, and a bulk
upload's unit of work (and its connection) is taken only once its body has been parsed.

Once per request: the edge's answer (looked up in the database for this very request, before its body was read)
is handed to the route's `institution` dependency through a context variable of the request's task, so the route
does not ask the database a second time. Nothing is kept across requests: a key revoked (or an institution
suspended) is refused from the next request on, in every worker process. A request without the edge's answer
(an app without the edge) looks the key up itself.
"""

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from fastapi import Request, Security

from enrollment.domain import InstitutionStatus, institution_suspended
from enrollment.ports import ApiKey
from enrollment.store import PostgresStore
from plan_runtime.auth import API_KEY
from plan_runtime.errors import Unauthorized


@dataclass(frozen=True)
class Institution:
    id: UUID
    active: bool


async def institution_key(pool: asyncpg.Pool, x_api_key: str | None) -> ApiKey | None:
    """The institution key `x_api_key` is (`inst_<key id>_<secret>`), looked up by id and compared hashed, in
    constant time; None if it is not one, unknown or revoked."""
    parts = (x_api_key or "").split("_", 2)  # the secret itself may contain "_"
    if len(parts) != 3 or parts[0] != "inst":
        return None
    try:
        key_id = UUID(hex=parts[1])
    except ValueError:
        return None
    async with pool.acquire() as conn:
        found = await PostgresStore(conn).key(key_id)
    given = hashlib.sha256(parts[2].encode()).hexdigest()
    if found is None or not hmac.compare_digest(given, found.secret_sha256):
        return None
    return found


_CHECKED: ContextVar[tuple[str, ApiKey] | None] = ContextVar("institution_key_checked", default=None)
"""The key the edge looked up for the request running in this task, and what it found (unrevoked keys only)."""


def institution_keys(pool: Callable[[], asyncpg.Pool]) -> Callable[[str], Awaitable[bool]]:
    """For the HTTP edge: is this a valid (unrevoked) institution key? Asked before the body is read, on every
    request; the answer is left for this request's `institution` dependency."""

    async def valid(key: str) -> bool:
        _CHECKED.set(None)
        found = await institution_key(pool(), key)
        if found is not None:
            _CHECKED.set((key, found))
        return found is not None

    return valid


async def institution(request: Request, x_api_key: str | None = Security(API_KEY)) -> Institution:
    """A FastAPI dependency: the institution whose key this is (revoked keys no longer work): the edge's lookup of
    this request's key, taken once (so it never serves another request in the same task), or a lookup now."""
    checked = _CHECKED.get()
    _CHECKED.set(None)
    if checked is not None and checked[0] == x_api_key:  # the caller's own key, compared with itself
        found: ApiKey | None = checked[1]
    else:
        found = await institution_key(request.app.state.runtime.pool, x_api_key)
    if found is None:
        raise Unauthorized("unauthorized", "X-API-Key is missing or is not a valid institution key", "X-API-Key")
    return Institution(found.institution_id, found.status == InstitutionStatus.ACTIVE)


def must_be_active(who: Institution) -> None:
    """A suspended institution cannot enrol."""
    if not who.active:
        raise institution_suspended()
