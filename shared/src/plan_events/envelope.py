"""The envelope every event carries, whatever its type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Self
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator


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
