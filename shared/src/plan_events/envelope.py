"""The envelope every event carries, whatever its type."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Self
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator

# control characters (but tab, LF, CR) and lone surrogates: no text field of any event holds them, no request
# field either (plan_runtime.requests), and dead-letter reasons escape them (plan_runtime.consumer)
UNSAFE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class Event(BaseModel):
    """Envelope fields first, then each event's typed payload.

    `extra="ignore"` is deliberate: a producer may add optional fields within a
    version (additive evolution) and older consumers must keep working.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    topic: ClassVar[str]

    event_id: UUID
    type: str
    version: int
    occurred_at: AwareDatetime
    source: str
    subject: str
    correlation_id: UUID
    causation_id: UUID | None = None

    @field_validator("*", mode="after")
    @classmethod
    def _safe_text(cls, value: Any) -> Any:
        if isinstance(value, str) and (found := UNSAFE_TEXT.search(value)):
            raise ValueError(f"character U+{ord(found.group()):04X} is not allowed in an event")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @classmethod
    def create(
        cls,
        *,
        source: str,
        subject: str,
        occurred_at: datetime,
        caused_by: Event | None = None,
        event_id: UUID | None = None,
        **payload: object,
    ) -> Self:
        """A new event; when `caused_by` is given it inherits that event's correlation."""
        new_id = event_id or uuid4()
        return cls.model_validate(
            {
                "event_id": new_id,
                "occurred_at": occurred_at,
                "source": source,
                "subject": subject,
                "correlation_id": caused_by.correlation_id if caused_by else new_id,
                "causation_id": caused_by.event_id if caused_by else None,
                **payload,
            }
        )

    def key(self) -> bytes:
        """The Kafka key: the person the event is about, so their events share a partition."""
        return self.subject.encode()

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
