"""Session tokens, the sealed keys kept with them, and CSRF tokens: small, pure, tested on their own."""

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SESSION_COOKIE = "plan_session"
CSRF_COOKIE = "plan_csrf"  # before log-in (the log-in form itself): double-submit, compared with the form field
LANG_COOKIE = "lang"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """Only the SHA-256 of a session token is stored: a copy of the table opens no session."""
    return hashlib.sha256(token.encode()).digest()


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


class Sealer:
    """AES-256-GCM under a key derived from the portal's secret; the session's token hash is the associated
    data, so a sealed key copied to another session's row does not open."""

    def __init__(self, secret: str) -> None:
        self._aead = AESGCM(hashlib.sha256(b"portal-session-keys\x00" + secret.encode()).digest())

    def seal(self, plain: str, bound_to: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plain.encode(), bound_to)

    def open(self, sealed: bytes, bound_to: bytes) -> str:
        return self._aead.decrypt(sealed[:12], sealed[12:], bound_to).decode()


def fingerprint(value: str) -> str:
    """A short, non-reversible label of a key for logs."""
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()[:6]).decode()
