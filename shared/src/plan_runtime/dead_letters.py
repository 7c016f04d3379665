"""Operators list dead letters and replay them once the cause is fixed."""

import uuid
from dataclasses import dataclass
from datetime import datetime

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


async def list_dead_letters(conn: Connection, include_replayed: bool = False, limit: int = 100) -> list[DeadLetter]:
    rows = await conn.fetch(
        """SELECT id, consumer, topic, "partition", "offset", key, error, created_at, replayed_at
           FROM dead_letters WHERE $1 OR replayed_at IS NULL ORDER BY id LIMIT $2""",
        include_replayed,
        limit,
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
        await emit_raw(conn, uuid.uuid4(), row["topic"], row["key"], row["value"] or b"")
        await conn.execute("UPDATE dead_letters SET replayed_at = now() WHERE id = $1", row["id"])
    return True
