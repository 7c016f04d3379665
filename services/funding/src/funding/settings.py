from pydantic import Field, SecretStr

from plan_runtime import RuntimeSettings


class Settings(RuntimeSettings):
    db_schema: str = "funding"
    finance_api_key: SecretStr = Field(description="the finance office's key")
