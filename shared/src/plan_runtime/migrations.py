"""Forward-only SQL migrations, applied at start-up under an advisory lock.

A service has two tracks: the runtime's (outbox, inbox, dead letters) and its own.
Files are `NNNN_what.sql`; an applied file is never edited (its checksum is kept and checked).
"""

import hashlib
import logging
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"


class MigrationEdited(RuntimeError):
    """An applied migration file changed on disk: write a new one instead."""


async def migrate(pool: asyncpg.Pool, schema: str, tracks: dict[str, Path]) -> list[str]:
    """Apply pending files of each track in order; returns what was applied."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"migrate:{schema}")
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
            if not exists:
                await conn.execute(f'CREATE SCHEMA "{schema}"')
            await conn.execute(
                f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                    track text NOT NULL, name text NOT NULL, checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (track, name))"""
            )
            for track, folder in tracks.items():
                done = {
                    r["name"]: r["checksum"]
                    for r in await conn.fetch(
                        f'SELECT name, checksum FROM "{schema}".schema_migrations WHERE track = $1',
                        track,
                    )
                }
                for file in sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql")):
                    sql = file.read_text()
                    checksum = hashlib.sha256(sql.encode()).hexdigest()
                    if file.name in done:
                        if done[file.name] != checksum:
                            raise MigrationEdited(f"{track}/{file.name} changed after it was applied")
                        continue
                    async with conn.transaction():
                        await conn.execute(f'SET LOCAL search_path = "{schema}"')
                        await conn.execute(sql)
                        await conn.execute(
                            f'INSERT INTO "{schema}".schema_migrations (track, name, checksum) VALUES ($1, $2, $3)',
                            track,
                            file.name,
                            checksum,
                        )
                    log.info("migrated %s: %s/%s", schema, track, file.name)
                    applied_now.append(f"{track}/{file.name}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"migrate:{schema}")
    return applied_now
