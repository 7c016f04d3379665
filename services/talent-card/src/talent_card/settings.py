from pydantic import Field, SecretStr

from plan_runtime import RuntimeSettings


class Settings(RuntimeSettings):
    db_schema: str = "talent_card"
    talent_office_api_key: SecretStr = Field(description="the talent office's key")
