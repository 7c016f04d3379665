"""Development secrets, generated once per checkout into .local/secrets.env (never committed, mode 600)."""

import os
import secrets
from pathlib import Path

from infra.paths import SECRETS

NAMES = (
    "PG_ADMIN_PASSWORD",
    "MIGRATOR_DB_PASSWORD",
    "ENROLLMENT_DB_PASSWORD",
    "FUNDING_DB_PASSWORD",
    "TALENT_CARD_DB_PASSWORD",
    "PORTAL_DB_PASSWORD",
    "PII_HMAC_KEY",
    "BUREAU_API_KEY",
    "FINANCE_API_KEY",
    "TALENT_OFFICE_API_KEY",
    "PORTAL_SESSION_SECRET",
)


def write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """Replace `path` with `text`, readable by its owner only from the first byte on.

    The text goes to a new file in the same directory created with O_EXCL and mode 600 (never another mode,
    whatever the umask), is synced, optionally given to `owner` (uid, gid), then renamed over `path`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            os.fchmod(file.fileno(), 0o600)
            if owner is not None:
                os.fchown(file.fileno(), *owner)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load() -> dict[str, str]:
    """Read the secrets, generating any that are missing."""
    values: dict[str, str] = {}
    if SECRETS.exists():
        if SECRETS.stat().st_mode & 0o077:  # a file from an older checkout, or copied without its mode
            SECRETS.chmod(0o600)
        for line in SECRETS.read_text().splitlines():
            name, _, value = line.partition("=")
            if name and value:
                values[name] = value
    missing = [n for n in NAMES if n not in values]
    if missing:
        for name in missing:
            values[name] = secrets.token_urlsafe(24)
        write_private(SECRETS, "".join(f"{k}={v}\n" for k, v in values.items()))
    return values
