"""A message some consumer could not apply, published for operators."""

from typing import ClassVar, Literal

from plan_events.envelope import Event


class MessageDeadLettered(Event):
    """`raw_base64` is the original value, byte for byte; `error` says why it was refused."""

    topic: ClassVar[str] = "dead-letter"
    type: Literal["message-dead-lettered"] = "message-dead-lettered"
    version: Literal[1] = 1
    consumer: str
    original_topic: str
    original_partition: int
    original_offset: int
    original_key: str | None
    raw_base64: str
    error: str
