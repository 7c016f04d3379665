from pathlib import Path

from pydantic import Field, SecretStr

from plan_runtime import RuntimeSettings

DEBIAN_CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian package fonts-wqy-microhei


class Settings(RuntimeSettings):
    db_schema: str = "portal"
    enrollment_url: str = Field(
        default="http://127.0.0.1:8001", description="enrollment's API, called with the caller's key"
    )
    funding_url: str = Field(default="http://127.0.0.1:8002", description="funding's API, called with the caller's key")
    talent_card_url: str = Field(
        default="http://127.0.0.1:8003", description="talent-card's API, called with the caller's key"
    )
    portal_session_secret: SecretStr = Field(
        description="seals the callers' keys kept with their sessions (any text; 32+ random characters)"
    )
    session_hours: float = Field(default=8, gt=0, le=24 * 7, description="a session ends this long after log-in")
    cookie_secure: bool = Field(
        default=False, description="mark cookies Secure (set it behind TLS; the local system speaks plain HTTP)"
    )
    pdf_font: Path = Field(default=DEBIAN_CJK_FONT, description="a TrueType font with Chinese glyphs for the PDFs")
    live_poll_seconds: float = Field(default=0.5, gt=0, description="how often the read model's version is checked")
    api_timeout_seconds: float = Field(default=30, gt=0)
