"""Settings every service shares, read from the environment; nothing connects at import time."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    database_url: str = Field(description="PostgreSQL DSN of this service's login role")
    db_schema: str = Field(description="The schema this service owns")
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    consumer_group: str | None = Field(default=None, description="defaults to the service name")
    relay_batch_size: int = Field(default=1000, ge=1, le=10_000)
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    retry_max_seconds: float = Field(default=10.0, gt=0, description="cap of transient back-off")
    db_pool_size: int = Field(default=10, ge=2)
