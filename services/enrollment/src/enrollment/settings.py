from pathlib import Path

from pydantic import Field, SecretStr

from enrollment.policy import DEFAULT_POLICY
from plan_runtime import RuntimeSettings


class Settings(RuntimeSettings):
    db_schema: str = "enrollment"
    pii_hmac_key: SecretStr = Field(description="key of the HMAC that pseudonymises ID numbers")
    bureau_api_key: SecretStr = Field(description="the Bureau of Commerce's admin key")
    policy_file: Path = Field(default=DEFAULT_POLICY, description="enrolment rules and targets (TOML)")
