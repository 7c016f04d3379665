"""The store contract (tests/support/contracts/enrollment_store.py) on the PostgreSQL store, in a throw-away
schema migrated like the service's own, each test on one unit of work (one transaction, rolled back)."""

from collections.abc import AsyncIterator

import pytest

from enrollment.store import PostgresStore
from plan_runtime.db import create_pool
from plan_runtime.migrations import migrate
from plan_runtime.migrator import tracks
from tests.infrastructure import Infrastructure
from tests.integration.conftest import Schema
from tests.support.contracts.enrollment_store import *  # noqa: F403 (the contract's tests, run here on PostgreSQL)
from tests.support.contracts.enrollment_store import Reads


@pytest.fixture
async def store(infrastructure: Infrastructure, schema: Schema) -> AsyncIterator[PostgresStore]:
    pool = await create_pool(infrastructure.database_url, schema.name, size=2)  # with the service's jsonb codec
    try:
        await migrate(pool, schema.name, tracks("enrollment"))
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                yield PostgresStore(conn, [])
            finally:
                await transaction.rollback()
    finally:
        await pool.close()


@pytest.fixture
def reads(store: PostgresStore) -> Reads:
    async def recorded() -> list[tuple[str, str, str]]:
        rows = await store.conn.fetch("SELECT actor, route, person_id FROM read_audit")
        return [(r["actor"], r["route"], r["person_id"]) for r in rows]

    return recorded
