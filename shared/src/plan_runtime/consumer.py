"""Consuming with an inbox: each message is applied once, or parked as a dead letter, never lost.

A batch of records is handled in ONE database transaction:
- bad bytes, unknown versions and broken contracts become dead letters;
- the inbox takes every event id of the batch in one statement: an id already there means
  "already applied", and that event is skipped;
- each new event goes to its handler with the service's unit of work (its store on this transaction),
  which changes state and `publish`es events; they are appended to the outbox once, at the end.
  A handler wrapped in `Many` takes a run of consecutive new events at once (one statement for a
  projection's thousand rows): it must leave the same state as applying them one by one, in order;
- an event of a type wrapped in `Only` that its predicate leaves out (none of this consumer's business) is
  counted as ignored: no inbox row, no handler;
- a handler that refuses (any `DomainError`, e.g. `Refused`) or fails for good turns its message into a dead letter
  (with the inbox row) so the partition keeps flowing. To keep the common path fast, a batch
  runs without savepoints; if a handler fails, the batch is rolled back and run again with a
  savepoint around each message, so only the failing one is parked.
Offsets are committed by the caller only after this transaction committed; a transient error
(database or broker unreachable) aborts the batch, which is retried.
"""

import base64
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from plan_events import Event, InvalidEvent, MessageDeadLettered, Undecodable, UnknownEvent, decode
from plan_events.dead_letter import EXCERPT_BYTES
from plan_events.envelope import UNSAFE_TEXT
from plan_runtime.db import Connection
from plan_runtime.errors import DomainError
from plan_runtime.outbox import emit
from plan_runtime.transient import is_transient
from plan_runtime.unit import Unit

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Awaitable[None]]
"""Applies one event to the service's unit of work (`plan_runtime.unit.Unit`): changes state through it and
`publish`es the events to send."""


@dataclass(frozen=True)
class Many:
    """A handler of several events at once: `apply(unit, events)` with consecutive new events of the batch that
    share this handler, in record order (one event when the batch is redone message by message after a failure).
    It must leave the state that applying them one at a time, in that order, would leave."""

    apply: Callable[[Any, list[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Only:
    """A handler (`then`) for the events of its type that `when` picks. The others are none of this consumer's
    business: decoded and checked like every record (a broken one is still a dead letter), then left out, with no
    inbox row and no call, and counted as ignored. `when` must pick every event `then` would act on: the handler
    checks the same predicate first, so an event it is handed anyway (a test, a redone batch) changes nothing.
    Funding has no business with basic courses (most of the traffic), the talent office with any but a passed
    senior one: their inbox rows were half of all inbox rows written (docs/performance.md, tenth round)."""

    when: Callable[[Any], bool]
    then: Handler | Many


Handlers = Mapping[type[Event], Handler | Many | Only]


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
    ignored: int = 0  # events of no interest to this consumer (`Only`): no inbox row, no handler
    dead_letters: list[str] = field(default_factory=list)


def printable(text: str, limit: int = 2_000) -> str:
    """Text that PostgreSQL, JSON and the event contracts take, whatever the record held: control characters
    and lone surrogates written as escapes, the length bounded."""
    return UNSAFE_TEXT.sub(lambda found: f"\\u{ord(found.group()):04x}", text[:limit])


Decoded = list[tuple[Record, Event | str]]
"""A batch's records, each with its event or, if it is not one, the reason it becomes a dead letter."""


class _HandlerFailed(Exception):
    """Internal: a handler failed on the fast path; the batch is redone message by message."""


class Inbox:
    def __init__(
        self,
        consumer: str,
        source: str,
        pool: asyncpg.Pool,
        handlers: Handlers,
        unit: Callable[[Connection, list[Event]], Unit] = Unit,
    ) -> None:
        self.consumer, self.source, self.pool, self.unit = consumer, source, pool, unit
        self.handlers = {kind: h.then if isinstance(h, Only) else h for kind, h in handlers.items()}
        self.interest = {kind: h.when for kind, h in handlers.items() if isinstance(h, Only)}
        self.expected = tuple(self.handlers)

    @property
    def topics(self) -> list[str]:
        return sorted({model.topic for model in self.handlers})

    def decode(self, records: Sequence[Record]) -> Decoded:
        """Decode a batch (CPU only, no I/O): done while the previous batch's transaction is in the database."""
        decoded: Decoded = []
        for record in records:
            try:
                decoded.append((record, decode(record.value, self.expected, record.topic)))
            except (Undecodable, UnknownEvent, InvalidEvent) as error:
                decoded.append((record, str(error)))  # becomes a dead letter in the batch's transaction
        return decoded

    async def process(self, records: Sequence[Record], decoded: Decoded | None = None) -> Outcome:
        """Apply a batch in one transaction; `decoded` is `self.decode(records)` if the caller already has it."""
        if decoded is None:
            decoded = self.decode(records)
        try:
            return await self._batch(decoded, careful=False)
        except _HandlerFailed:
            return await self._batch(decoded, careful=True)

    async def _batch(self, decoded: Decoded, careful: bool) -> Outcome:
        outcome, outgoing = Outcome(), list[Event]()
        async with self.pool.acquire() as conn, conn.transaction():
            unit = self.unit(conn, outgoing)  # the handlers' store: what they publish lands in `outgoing`
            events: list[tuple[Record, Event]] = []
            for record, event in decoded:
                if isinstance(event, str):
                    await self._dead_letter(conn, record, None, event, outcome, outgoing)
                elif (when := self.interest.get(type(event))) is not None and not when(event):
                    outcome.ignored += 1
                else:
                    events.append((record, event))
            fresh = {
                row["event_id"]
                for row in await conn.fetch(
                    "INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])"
                    " ON CONFLICT DO NOTHING RETURNING event_id",
                    self.consumer,
                    [event.event_id for _, event in events],
                )
            }
            new: list[tuple[Record, Event]] = []
            for record, event in events:
                if event.event_id not in fresh:
                    outcome.duplicates += 1
                    continue
                fresh.discard(event.event_id)  # the same event twice in one batch: the second is a duplicate
                new.append((record, event))
            if careful:
                for record, event in new:
                    await self._one(unit, conn, record, event, outcome, outgoing)
            else:
                for run in self._runs(new):
                    try:
                        await self._apply(unit, run)
                    except Exception as error:
                        if is_transient(error):
                            raise
                        raise _HandlerFailed from error
                    outcome.applied += len(run)
            await emit(conn, outgoing)
        return outcome

    def _runs(self, new: list[tuple[Record, Event]]) -> list[list[Event]]:
        """The new events in record order, cut into runs: consecutive events sharing a `Many` handler together,
        every other event alone."""
        runs: list[list[Event]] = []
        previous: Handler | Many | None = None
        for _, event in new:
            handler = self.handlers[type(event)]
            if isinstance(handler, Many) and handler is previous:
                runs[-1].append(event)
            else:
                runs.append([event])
            previous = handler
        return runs

    async def _apply(self, unit: Unit, events: list[Event]) -> None:
        handler = self.handlers[type(events[0])]
        if isinstance(handler, Many):
            await handler.apply(unit, events)
        else:
            [event] = events
            await handler(unit, event)

    async def _one(
        self, unit: Unit, conn: Connection, record: Record, event: Event, outcome: Outcome, outgoing: list[Event]
    ) -> None:
        """The careful path: one message in a savepoint; a refusal undoes only it and parks it as a dead letter."""
        before = len(outgoing)
        try:
            async with conn.transaction():
                await self._apply(unit, [event])
        except Exception as error:
            if is_transient(error):
                raise
            del outgoing[before:]  # what the refused message published goes with it
            unit.rolled_back()  # and the locks it took: the store must not count on them
            reason = str(error) if isinstance(error, DomainError) else f"{type(error).__name__}: {error}"
            await self._dead_letter(conn, record, event.event_id, reason, outcome, outgoing)
            return
        outcome.applied += 1

    async def _dead_letter(
        self,
        conn: Connection,
        record: Record,
        event_id: uuid.UUID | None,
        error: str,
        outcome: Outcome,
        outgoing: list[Event],
    ) -> None:
        error = printable(error)
        stored = await conn.fetchval(
            """INSERT INTO dead_letters (consumer, topic, "partition", "offset", key, value, event_id, error)
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
        log.warning("dead letter %s %s[%d]@%d: %s", self.consumer, record.topic, record.partition, record.offset, error)
        outcome.dead_letters.append(error)
        key = printable(record.key[:200].decode(errors="replace"), 200) if record.key else None  # any bytes
        value = record.value or b""
        outgoing.append(
            MessageDeadLettered.create(
                source=self.source,
                subject=key or f"{record.topic}/{record.partition}",
                occurred_at=datetime.now(UTC),
                consumer=self.consumer,
                original_topic=record.topic,
                original_partition=record.partition,
                original_offset=record.offset,
                original_key=key,
                raw_base64=base64.b64encode(value[:EXCERPT_BYTES]).decode(),
                raw_size=len(value),
                raw_sha256=hashlib.sha256(value).hexdigest(),
                raw_truncated=len(value) > EXCERPT_BYTES,
                error=error[:2_000],
            )
        )
