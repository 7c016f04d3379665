"""A released pooled connection costs no round trip and carries nothing that matters to the next user
(plan_runtime.db: no `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;` on every release)."""

import asyncio
import uuid

import asyncpg
import pytest

from plan_runtime import create_pool
from tests.infrastructure import Infrastructure
from tests.integration.conftest import Schema


async def last_statement(admin: asyncpg.Connection, pid: int) -> str:
    return str(await admin.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid))


async def test_a_release_sends_nothing(infrastructure: Infrastructure, schema: Schema) -> None:
    pool = await create_pool(infrastructure.database_url, schema.name, size=1)
    admin = await asyncpg.connect(infrastructure.database_url)
    try:
        marker = f"SELECT 'released-{uuid.uuid4().hex}'"
        async with pool.acquire() as conn:
            pid = conn.get_server_pid()
            await conn.fetchval(marker)
        await asyncio.sleep(0.2)
        assert await last_statement(admin, pid) == marker  # no reset query after it
        async with pool.acquire() as conn, conn.transaction():
            assert conn.get_server_pid() == pid  # the same connection, reused
            await conn.fetchval("SELECT 1")
        await asyncio.sleep(0.2)
        assert await last_statement(admin, pid) == "COMMIT;"
    finally:
        await admin.close()
        await pool.close()


async def test_a_released_connection_holds_no_transaction_no_listen_and_its_own_schema(
    infrastructure: Infrastructure, schema: Schema
) -> None:
    pool = await create_pool(infrastructure.database_url, schema.name, size=1)
    try:
        with pytest.warns(asyncpg.InterfaceWarning, match="active notification listener"):  # asyncpg's own warning
            async with pool.acquire() as conn:
                await conn.execute("CREATE TABLE left_behind (n int)")
                await conn.execute("BEGIN")  # a transaction nobody ends (no `conn.transaction()` block)
                await conn.execute("INSERT INTO left_behind VALUES (1)")
                await conn.add_listener("outbox_elsewhere", lambda *_: None)  # and a LISTEN nobody removes
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM left_behind") == 0  # rolled back on release
            assert await conn.fetch("SELECT pg_listening_channels()") == []  # UNLISTEN on its release
            assert await conn.fetchval("SHOW search_path") == schema.name  # a start-up parameter: kept
            assert await conn.fetchval("SELECT current_setting('application_name')") == schema.name

            # the relay's way: a listener held on its own acquired connection, removed before release
            def wake(*_: object) -> None: ...

            await conn.add_listener("outbox_mine", wake)
            assert [r[0] for r in await conn.fetch("SELECT pg_listening_channels()")] == ["outbox_mine"]
            await conn.remove_listener("outbox_mine", wake)
        async with pool.acquire() as conn:
            assert await conn.fetch("SELECT pg_listening_channels()") == []
            await conn.fetchval("SELECT 1")
    finally:
        await pool.close()


async def test_a_session_set_would_leak_which_is_why_the_runtime_uses_none(
    infrastructure: Infrastructure, schema: Schema
) -> None:
    """What the release no longer resets: a session-level SET (or advisory lock) would reach the next user.
    tests/unit/runtime/test_session_state.py checks that no code on a pooled connection does either."""
    pool = await create_pool(infrastructure.database_url, schema.name, size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL statement_timeout = '7s'")  # transaction-scoped: what migrations use
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW statement_timeout") == "0"
            await conn.execute("SET statement_timeout = '7s'")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW statement_timeout") == "7s"
            await conn.execute("RESET statement_timeout")
    finally:
        await pool.close()
