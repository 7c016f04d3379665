"""Development secrets, generated once per checkout into .local/secrets.env (never committed)."""

import secrets

from infra.paths import SECRETS

NAMES = (
    "PG_ADMIN_PASSWORD",
    "ENROLLMENT_DB_PASSWORD",
    "FUNDING_DB_PASSWORD",
    "TALENT_CARD_DB_PASSWORD",
    "PII_HMAC_KEY",
    "BUREAU_API_KEY",
    "FINANCE_API_KEY",
    "TALENT_OFFICE_API_KEY",
)


def load() -> dict[str, str]:
    """Read the secrets, generating any that are missing."""
    values: dict[str, str] = {}
    if SECRETS.exists():
        for line in SECRETS.read_text().splitlines():
            name, _, value = line.partition("=")
            if name and value:
                values[name] = value
    missing = [n for n in NAMES if n not in values]
    if missing:
        for name in missing:
            values[name] = secrets.token_urlsafe(24)
        SECRETS.parent.mkdir(parents=True, exist_ok=True)
        SECRETS.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        SECRETS.chmod(0o600)
    return values
