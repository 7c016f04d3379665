"""Connection pool bound to one schema."""

import json
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy


async def _init(conn: "asyncpg.Connection[Any]") -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, schema: str, size: int = 10) -> asyncpg.Pool:
    """Every connection's search_path is the service's own schema, so SQL never names it."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init,
        server_settings={"search_path": schema, "application_name": schema},
    )
    assert pool is not None
    return pool


Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"
"""A connection as handlers get it: direct, or borrowed from the pool."""
