from pydantic import Field, SecretStr

from plan_runtime import RuntimeSettings


class Settings(RuntimeSettings):
    db_schema: str = "enrollment"
    pii_hmac_key: SecretStr = Field(description="key of the HMAC that pseudonymises ID numbers")
    bureau_api_key: SecretStr = Field(description="the Bureau of Commerce's admin key")
