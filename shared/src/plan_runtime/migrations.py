"""Forward-only SQL migrations, applied by the migration role under an advisory lock; grants re-applied after.

A service has two tracks: the runtime's (outbox, inbox, dead letters) and its own.
Files are `NNNN_what.sql`; an applied file is never edited (its checksum is kept and checked).

Least privilege: the schema and its tables belong to the migration role (`plan_migrator`), which applies
the files (`python -m infra migrate`, or `python -m plan_runtime.migrator` in a container). A service runs as
its runtime role, which gets exactly what each track's `grants.sql` (next to its migrations) declares: they
are re-applied, from a clean slate, after every migration run. A service started without
MIGRATE_ON_START only checks that every file is applied (`require_applied`).
"""

import hashlib
import logging
from pathlib import Path

import asyncpg

from plan_runtime.db import Connection

log = logging.getLogger(__name__)

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"
GRANTS = "grants.sql"
MIGRATE_COMMAND = "python -m infra migrate"


class MigrationEdited(RuntimeError):
    """An applied migration file changed on disk: write a new one instead."""


class MigrationsPending(RuntimeError):
    """The schema lacks migrations this code needs; the migration role must apply them first."""


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def _checksum(file: Path) -> str:
    return hashlib.sha256(file.read_text().encode()).hexdigest()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def migrate(pool: asyncpg.Pool, schema: str, tracks: dict[str, Path]) -> list[str]:
    """Apply pending files of each track in order; returns what was applied."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"migrate:{schema}")
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
            if not exists:
                await conn.execute(f"CREATE SCHEMA {_ident(schema)}")
            await conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {_ident(schema)}.schema_migrations (
                    track text NOT NULL, name text NOT NULL, checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (track, name))"""
            )
            for track, folder in tracks.items():
                done = {
                    r["name"]: r["checksum"]
                    for r in await conn.fetch(
                        f"SELECT name, checksum FROM {_ident(schema)}.schema_migrations WHERE track = $1",
                        track,
                    )
                }
                for file in _files(folder):
                    sql = file.read_text()
                    checksum = hashlib.sha256(sql.encode()).hexdigest()
                    if file.name in done:
                        if done[file.name] != checksum:
                            raise MigrationEdited(f"{track}/{file.name} changed after it was applied")
                        continue
                    async with conn.transaction():
                        await conn.execute(f"SET LOCAL search_path = {_ident(schema)}")
                        await conn.execute(sql)
                        await conn.execute(
                            f"INSERT INTO {_ident(schema)}.schema_migrations (track, name, checksum)"
                            " VALUES ($1, $2, $3)",
                            track,
                            file.name,
                            checksum,
                        )
                    log.info("migrated %s: %s/%s", schema, track, file.name)
                    applied_now.append(f"{track}/{file.name}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"migrate:{schema}")
    return applied_now


async def apply_grants(conn: Connection, schema: str, role: str, tracks: dict[str, Path]) -> None:
    """Give `role` exactly what the tracks' grants.sql declare in `schema`, nothing more (idempotent).

    In one transaction: revoke everything `role` holds on the schema, its tables and sequences, grant USAGE
    on the schema, run each `grants.sql` (`{role}` and `{schema}` stand for the role and the schema; names
    resolve in the schema). A table
    or view the role then has no privilege on means a migration added it without declaring its grants.
    """
    role_sql, schema_sql = _ident(role), _ident(schema)
    owner = await conn.fetchval("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", schema)
    if owner is None or owner.strip('"') == role:
        raise RuntimeError(f"{role} owns schema {schema}: a runtime role must not; the migration role owns it")
    async with conn.transaction():
        await conn.execute(f"SET LOCAL search_path = {schema_sql}")
        await conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema_sql} FROM {role_sql}")
        await conn.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema_sql} FROM {role_sql}")
        await conn.execute(f"REVOKE ALL ON SCHEMA {schema_sql} FROM PUBLIC, {role_sql}")
        await conn.execute(f"GRANT USAGE ON SCHEMA {schema_sql} TO {role_sql}")
        for folder in tracks.values():
            grants = folder / GRANTS
            if grants.exists():
                await conn.execute(grants.read_text().replace("{role}", role_sql).replace("{schema}", schema_sql))
        forgotten = await conn.fetch(
            """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p')
                 AND NOT has_table_privilege($2, c.oid, 'SELECT, INSERT, UPDATE, DELETE')
               ORDER BY 1""",
            schema,
            role,
        )
        if forgotten:
            names = ", ".join(r["relname"] for r in forgotten)
            raise RuntimeError(f"{schema}: no grants for {role} on {names}: declare them in a {GRANTS}")
    log.info("granted %s what %s needs in schema %s", role, GRANTS, schema)


async def pending(conn: Connection, schema: str, tracks: dict[str, Path]) -> list[str]:
    """The files of `tracks` not applied to `schema` (or applied with other contents)."""
    try:
        rows = await conn.fetch(f"SELECT track, name, checksum FROM {_ident(schema)}.schema_migrations")
    except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
        rows = []
    done = {(r["track"], r["name"]): r["checksum"] for r in rows}
    missing = []
    for track, folder in tracks.items():
        for file in _files(folder):
            checksum = done.get((track, file.name))
            if checksum is None:
                missing.append(f"{track}/{file.name}")
            elif checksum != _checksum(file):
                missing.append(f"{track}/{file.name} (edited after it was applied)")
    return missing


async def require_applied(pool: asyncpg.Pool, schema: str, tracks: dict[str, Path]) -> None:
    """A service that does not migrate checks at start-up that its schema is as new as its code."""
    async with pool.acquire() as conn:
        try:
            missing = await pending(conn, schema, tracks)
        except asyncpg.InsufficientPrivilegeError as error:
            raise MigrationsPending(
                f"schema {schema}: this role cannot read {schema}.schema_migrations ({error}); "
                f"run `{MIGRATE_COMMAND}` (it applies the migrations and the grants)"
            ) from error
    if missing:
        raise MigrationsPending(
            f"schema {schema} lacks {len(missing)} migration(s): {', '.join(missing)}; run `{MIGRATE_COMMAND}` "
            "(or `python -m plan_runtime.migrator` with MIGRATION_DATABASE_URL), or start with MIGRATE_ON_START=true"
        )
