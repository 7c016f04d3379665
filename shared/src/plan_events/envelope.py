"""The envelope every event carries, whatever its type."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from plan_events.ids import new_id

# control characters (but tab, LF, CR) and lone surrogates: no text field of any event holds them, no request
# field either (plan_runtime.requests), and dead-letter reasons escape them (plan_runtime.consumer)
UNSAFE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_unsafe = UNSAFE_TEXT.search

TEXT_CHECKED: dict[str, bool] = {"unsafe_text_checked": True}
"""Validation context of a decoder that already found no unsafe character (nor any escape) in the whole JSON
text the model is validated from: then no text field can hold one, and the per-field check is skipped."""


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

    @model_validator(mode="after")
    def _safe_text(self, info: ValidationInfo) -> Self:
        """No text field holds an unsafe character. One pass over the validated fields (a validator per field
        cost a Python call per field of every event decoded); the error names the field, as before."""
        if info.context is TEXT_CHECKED:
            return self
        # the common case, every event: one join of the text values and one search, no (name, value) pairs; the
        # character class matches one character, so no match can straddle two fields
        if _unsafe("".join([value for value in self.__dict__.values() if isinstance(value, str)])) is None:
            return self
        errors: list[Any] = [
            {
                "type": "value_error",
                "loc": (name,),
                "input": value,
                "ctx": {"error": ValueError(f"character U+{ord(found.group()):04X} is not allowed in an event")},
            }
            for name, value in self.__dict__.items()
            if isinstance(value, str) and (found := _unsafe(value))
        ]
        raise ValidationError.from_exception_data(type(self).__name__, errors)

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
        text_checked: bool = False,
        **payload: object,
    ) -> Self:
        """A new event; when `caused_by` is given it inherits that event's correlation.

        `text_checked=True` skips the unsafe-character pass over the text fields (`_safe_text`); only for a caller
        whose every text came from a request body (`plan_runtime.requests.RequestBody` refuses the same characters)
        or was derived by the service itself (a pseudonym, a constant). Every other check still runs."""
        own_id = event_id or new_id()
        return cls.model_validate(
            {
                "event_id": own_id,
                "occurred_at": occurred_at,
                "source": source,
                "subject": subject,
                "correlation_id": caused_by.correlation_id if caused_by else own_id,
                "causation_id": caused_by.event_id if caused_by else None,
                **payload,
            },
            context=TEXT_CHECKED if text_checked else None,
        )

    def key(self) -> bytes:
        """The Kafka key: the person the event is about, so their events share a partition."""
        return self.subject.encode()

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
