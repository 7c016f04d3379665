"""Settings every service shares, read from the environment; nothing connects at import time."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RuntimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    database_url: str = Field(description="PostgreSQL DSN of this service's login role (its runtime role)")
    migrate_on_start: bool = Field(
        default=False,
        description="apply pending migrations at start-up (tests, throw-away schemas); otherwise the service only "
        "checks that every migration is applied and refuses to start if not (`python -m infra migrate`)",
    )
    migration_database_url: SecretStr | None = Field(
        default=None,
        description="with MIGRATE_ON_START: the DSN of the role that owns the schema, which migrates and then grants "
        "the runtime role its privileges; without it the service migrates as its own role",
    )
    db_schema: str = Field(description="The schema this service owns")
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    consumer_group: str | None = Field(default=None, description="defaults to the service name")
    relay_batch_size: int = Field(
        default=5000, ge=1, le=10_000, description="rows the relay claims, publishes and marks per pass"
    )
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    retry_max_seconds: float = Field(default=10.0, gt=0, description="cap of transient back-off")
    db_pool_size: int = Field(default=10, ge=2)
    consumer_session_timeout_ms: int = Field(
        default=10_000, ge=1_000, le=300_000, description="how long the group waits for a silent member"
    )
    consumer_instance_id: str | None = Field(
        default=None,
        description="static group membership (group.instance.id): a restarted process with the same id gets "
        "its partitions back at once; give every replica its own",
    )
    relay_max_attempts: int = Field(default=3, ge=1, le=100, description="tries before a refused row is parked")
    ready_max_poll_age_seconds: float = Field(default=15, gt=0, description="a consumer silent longer is not ready")
    ready_max_outbox_age_seconds: float = Field(
        default=120, gt=0, description="an unpublished row older than this makes the service not ready"
    )
