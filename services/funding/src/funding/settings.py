from pathlib import Path

from pydantic import Field, SecretStr

from funding.policy import DEFAULT_POLICY
from plan_runtime import RuntimeSettings


class Settings(RuntimeSettings):
    db_schema: str = "funding"
    finance_api_key: SecretStr = Field(description="the finance office's key")
    policy_file: Path = Field(default=DEFAULT_POLICY, description="the fund policy (TOML)")
