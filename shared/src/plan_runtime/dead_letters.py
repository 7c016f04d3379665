"""Operators list dead letters and replay them once the cause is fixed; likewise parked outbox rows."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from plan_events.ids import new_id
from plan_runtime.db import Connection
from plan_runtime.outbox import emit_raw


@dataclass(frozen=True)
class DeadLetter:
    id: int
    consumer: str
    topic: str
    partition: int
    offset: int
    key: str | None
    error: str
    created_at: datetime
    replayed_at: datetime | None


LISTED_KEY_BYTES = 200


async def list_dead_letters(
    conn: Connection, include_replayed: bool = False, limit: int = 100, offset: int = 0
) -> list[DeadLetter]:
    # a listing shows the first LISTED_KEY_BYTES of each key: hostile records carry keys of 100 KB, and a page of
    # 1,000 of them made the process hold hundreds of MiB at once (funding's RSS peak); the full bytes stay in the
    # table and go back on the topic with a replay
    rows = await conn.fetch(
        """SELECT id, consumer, topic, "partition", "offset", substring(key from 1 for $4) AS key, error,
                  created_at, replayed_at
           FROM dead_letters WHERE $1 OR replayed_at IS NULL ORDER BY id LIMIT $2 OFFSET $3""",
        include_replayed,
        limit,
        offset,
        LISTED_KEY_BYTES,
    )
    return [DeadLetter(**{**dict(r), "key": r["key"].decode(errors="replace") if r["key"] else None}) for r in rows]


async def replay(conn: Connection, dead_letter_id: int) -> bool:
    """Put the original bytes back on their topic (through the outbox) and forget the inbox mark.

    Returns False when there is no such unreplayed dead letter.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT * FROM dead_letters WHERE id = $1 AND replayed_at IS NULL FOR UPDATE",
            dead_letter_id,
        )
        if row is None:
            return False
        if row["event_id"] is not None:
            await conn.execute(
                "DELETE FROM inbox WHERE consumer = $1 AND event_id = $2", row["consumer"], row["event_id"]
            )
        await emit_raw(conn, new_id(), row["topic"], row["key"], row["value"] or b"")
        await conn.execute("UPDATE dead_letters SET replayed_at = now() WHERE id = $1", row["id"])
    return True


@dataclass(frozen=True)
class ParkedRow:
    id: int
    event_id: uuid.UUID
    topic: str
    size: int
    attempts: int
    last_error: str | None
    created_at: datetime
    parked_at: datetime


async def list_parked(conn: Connection, limit: int = 100, offset: int = 0) -> list[ParkedRow]:
    rows = await conn.fetch(
        """SELECT id, event_id, topic, octet_length(value) AS size, attempts, last_error, created_at, parked_at
           FROM outbox WHERE parked_at IS NOT NULL ORDER BY id LIMIT $1 OFFSET $2""",
        limit,
        offset,
    )
    return [ParkedRow(**dict(r)) for r in rows]


async def retry_parked(conn: Connection, row_id: int) -> bool:
    """Unpark a row: the relay tries it again (`max_attempts` more times). False if no such parked row."""
    done = await conn.execute(
        "UPDATE outbox SET parked_at = NULL, attempts = 0 WHERE id = $1 AND parked_at IS NOT NULL",
        row_id,
    )
    return bool(done.endswith(" 1"))
