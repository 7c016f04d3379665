"""Consuming with an inbox: each message is applied once, or parked as a dead letter, never lost.

A batch of records is handled in ONE database transaction. For each record:
decode it (bad bytes, unknown version or broken contract -> dead letter); insert
(consumer, event_id) into the inbox (a conflict means "already applied": skip); apply the
handler inside a savepoint (a refusal or any non-transient error -> dead letter, with the
inbox row, so the partition keeps flowing). Offsets are committed by the caller only after
this transaction committed; a transient error aborts the whole batch, which is retried.
"""

import base64
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from plan_events import Event, InvalidEvent, MessageDeadLettered, Undecodable, UnknownEvent, decode
from plan_runtime.db import Connection
from plan_runtime.outbox import emit
from plan_runtime.transient import is_transient

log = logging.getLogger(__name__)

Handler = Callable[[Connection, Any], Awaitable[None]]


class Refused(Exception):
    """A business rule refuses this message for good: it becomes a dead letter with this reason."""


class Record(Protocol):
    """What the inbox needs of a Kafka record (aiokafka's ConsumerRecord has it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class Outcome:
    applied: int = 0
    duplicates: int = 0
    dead_letters: list[str] = field(default_factory=list)


class Inbox:
    def __init__(self, consumer: str, source: str, pool: asyncpg.Pool, handlers: Mapping[type[Event], Handler]) -> None:
        self.consumer, self.source, self.pool = consumer, source, pool
        self.handlers = dict(handlers)
        self.expected = tuple(self.handlers)

    @property
    def topics(self) -> list[str]:
        return sorted({model.topic for model in self.handlers})

    async def process(self, records: Sequence[Record]) -> Outcome:
        outcome = Outcome()
        async with self.pool.acquire() as conn, conn.transaction():
            for record in records:
                await self._one(conn, record, outcome)
        return outcome

    async def _one(self, conn: Connection, record: Record, outcome: Outcome) -> None:
        try:
            event = decode(record.value, self.expected)
        except (Undecodable, UnknownEvent, InvalidEvent) as error:
            await self._dead_letter(conn, record, None, str(error), outcome)
            return
        inserted = await conn.fetchval(
            "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
            self.consumer,
            event.event_id,
        )
        if not inserted:
            outcome.duplicates += 1
            return
        try:
            async with conn.transaction():  # a savepoint: a refusal undoes only this message
                await self.handlers[type(event)](conn, event)
        except Exception as error:
            if is_transient(error):
                raise
            reason = str(error) if isinstance(error, Refused) else f"{type(error).__name__}: {error}"
            await self._dead_letter(conn, record, event.event_id, reason, outcome)
            return
        outcome.applied += 1

    async def _dead_letter(
        self,
        conn: Connection,
        record: Record,
        event_id: uuid.UUID | None,
        error: str,
        outcome: Outcome,
    ) -> None:
        stored = await conn.fetchval(
            """INSERT INTO dead_letters (consumer, topic, "partition", "offset", key, value,
                                         event_id, error)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT DO NOTHING RETURNING true""",
            self.consumer,
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.value,
            event_id,
            error,
        )
        if not stored:  # the same poison redelivered: already parked
            return
        log.warning(
            "dead letter %s %s[%d]@%d: %s",
            self.consumer,
            record.topic,
            record.partition,
            record.offset,
            error,
        )
        outcome.dead_letters.append(error)
        key = record.key.decode(errors="replace") if record.key else None
        await emit(
            conn,
            [
                MessageDeadLettered.create(
                    source=self.source,
                    subject=key or f"{record.topic}/{record.partition}",
                    occurred_at=datetime.now(UTC),
                    consumer=self.consumer,
                    original_topic=record.topic,
                    original_partition=record.partition,
                    original_offset=record.offset,
                    original_key=key,
                    raw_base64=base64.b64encode(record.value or b"").decode(),
                    error=error,
                )
            ],
        )
