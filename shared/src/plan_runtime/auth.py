"""Role keys: an `X-API-Key` header compared in constant time; `X-Actor` names the person for audit."""

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Header, Security
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from plan_runtime.errors import Unauthorized

API_KEY = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,  # a missing key is our 401 with the error envelope, not FastAPI's 403
    scheme_name="X-API-Key",
    description="an institution's key (issued by the Bureau) or a role key: Bureau, finance, talent office",
)


def role_guard(role: str, expected: SecretStr) -> Callable[..., str]:
    """A FastAPI dependency: the request must carry the role's key; returns the actor for the audit trail."""

    def guard(
        x_api_key: str | None = Security(API_KEY),
        x_actor: str | None = Header(default=None, max_length=200, description="who acts, for the audit trail"),
    ) -> str:
        if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), expected.get_secret_value().encode()):
            raise Unauthorized("unauthorized", f"X-API-Key is missing or is not the {role} key", "X-API-Key")
        return f"{role}:{x_actor}" if x_actor else role

    return guard


def authenticator(
    *role_keys: SecretStr, other: Callable[[str], Awaitable[bool]] | None = None
) -> Callable[[str], Awaitable[bool]]:
    """For the HTTP edge (`BodyLimit`): is `key` a valid key of ANY role of the service, checked before the body
    is read? Role keys in constant time (every one compared, whatever matches); then `other` (e.g. institution
    keys in the database), asked on every request so that a revoked key stops working at once."""
    expected = [k.get_secret_value().encode() for k in role_keys]

    async def authenticate(key: str) -> bool:
        given = key.encode()
        matches = [hmac.compare_digest(given, k) for k in expected]
        if any(matches):
            return True
        return other is not None and await other(key)

    return authenticate
