"""A message some consumer could not apply, published for operators."""

from typing import ClassVar, Literal

from pydantic import Field

from plan_events.envelope import Event

EXCERPT_BYTES = 4_096


class MessageDeadLettered(Event):
    """`error` says why the message was refused; `raw_base64` holds its first bytes (at most EXCERPT_BYTES).

    The whole value stays in the consumer's `dead_letters` table, where replay reads it: a dead letter
    about a value near the broker's size limit must itself stay far below it, or publishing it would stop
    the outbox behind it. `raw_size` and `raw_sha256` identify the full value (both added within v1)."""

    topic: ClassVar[str] = "dead-letter"
    type: Literal["message-dead-lettered"] = "message-dead-lettered"
    version: Literal[1] = 1
    consumer: str
    original_topic: str
    original_partition: int
    original_offset: int
    original_key: str | None
    raw_base64: str
    raw_size: int | None = Field(default=None, ge=0, description="bytes in the original value")
    raw_sha256: str | None = Field(default=None, description="SHA-256 of the original value, hex")
    raw_truncated: bool = Field(default=False, description="raw_base64 holds only the first bytes")
    error: str
