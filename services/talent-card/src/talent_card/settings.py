from pathlib import Path

from pydantic import Field, SecretStr

from plan_runtime import RuntimeSettings
from talent_card.rules import DEFAULT_RULES


class Settings(RuntimeSettings):
    db_schema: str = "talent_card"
    talent_office_api_key: SecretStr = Field(description="the talent office's key")
    pii_hmac_key: SecretStr = Field(description="the same key enrollment uses, so a person has one id")
    bureau_api_key: SecretStr = Field(description="the Bureau's key: here it reads only the audit of reads")
    rules_file: Path = Field(default=DEFAULT_RULES, description="green-card rules and thresholds (TOML)")
