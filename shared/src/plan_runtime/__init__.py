"""The reliable-messaging runtime: outbox + relay, inbox + dead letters, migrations, settings."""

from plan_runtime.consumer import Inbox, Outcome
from plan_runtime.db import Connection, create_pool
from plan_runtime.errors import Refused
from plan_runtime.health import Health
from plan_runtime.migrations import RUNTIME_MIGRATIONS, MigrationsPending, apply_grants, migrate, require_applied
from plan_runtime.outbox import KafkaPublisher, Relay, emit
from plan_runtime.settings import RuntimeSettings
from plan_runtime.subscription import Subscription
from plan_runtime.topics import ensure_topics

__all__ = [
    "RUNTIME_MIGRATIONS",
    "Connection",
    "Health",
    "Inbox",
    "KafkaPublisher",
    "MigrationsPending",
    "Outcome",
    "Refused",
    "Relay",
    "RuntimeSettings",
    "Subscription",
    "apply_grants",
    "create_pool",
    "emit",
    "ensure_topics",
    "migrate",
    "require_applied",
]
