"""Connection pool bound to one schema.

A released connection is not reset with asyncpg's default reset query (`SELECT pg_advisory_unlock_all(); CLOSE
ALL; UNLISTEN *; RESET ALL;`, a round trip on every release: 14 % of enrollment's socket writes in the plan). The
runtime leaves no session state on a pooled connection, and resets only what it does use:

- a transaction left open is rolled back on release (asyncpg does that before any reset, and only then: no round
  trip otherwise); every unit of work is a `conn.transaction()` block, which ends it itself;
- LISTEN: only the relay's listener listens, on a connection it holds; should it be released still listening
  (`PlanConnection` notes `add_listener`), the release sends `UNLISTEN *` on it;
- session settings: the search path and application name are start-up parameters of the connection
  (`server_settings`), never changed; migrations use `SET LOCAL` (ends with their transaction); nothing runs a
  session-level `SET`, takes a session advisory lock or declares a holdable cursor on a pooled connection
  (tests/unit/runtime/test_session_state.py reads the source for them). The migrations' advisory lock is taken
  on a pool of their own (`service._migrate`), closed after them.
"""

import json
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy


class PlanConnection(asyncpg.Connection):
    """A connection that remembers whether it LISTENs (server-side), so that its release can undo only that."""

    listening = False

    async def add_listener(self, channel: str, callback: Any) -> None:
        self.listening = True
        await super().add_listener(channel, callback)


async def _reset(conn: "asyncpg.Connection[Any]") -> None:
    """On release (after asyncpg rolled back a transaction left open, if any): undo only what the runtime may
    leave on a connection, i.e. a LISTEN. No round trip for every other connection."""
    if getattr(conn, "listening", False):
        await conn.execute("UNLISTEN *")
        conn.listening = False  # type: ignore[attr-defined]


async def _init(conn: "asyncpg.Connection[Any]") -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, schema: str, size: int = 10) -> asyncpg.Pool:
    """Every connection's search_path is the service's own schema, so SQL never names it."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init,
        reset=_reset,
        connection_class=PlanConnection,
        server_settings={"search_path": schema, "application_name": schema},
    )
    assert pool is not None
    return pool


Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"
"""A connection as handlers get it: direct, or borrowed from the pool."""
