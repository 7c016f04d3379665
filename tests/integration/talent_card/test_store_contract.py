"""The store contract (tests/support/contracts/talent_card_store.py) on PostgreSQL, on a throw-away schema: each
test gets the store on one transaction, rolled back afterwards."""

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

import talent_card
from plan_runtime.db import create_pool
from plan_runtime.migrations import RUNTIME_MIGRATIONS, migrate
from talent_card.store import TalentCardStore
from tests.infrastructure import Infrastructure
from tests.integration.conftest import Schema
from tests.support.contracts.talent_card_store import *  # noqa: F403  (the suite's tests, collected here)
from tests.support.contracts.talent_card_store import Reads

TRACKS = {"runtime": RUNTIME_MIGRATIONS, "talent-card": Path(talent_card.__file__).parent / "migrations"}


@pytest.fixture
async def pool(infrastructure: Infrastructure, schema: Schema) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(infrastructure.database_url, schema.name, size=2)  # with the service's jsonb codec
    try:
        await migrate(pool, schema.name, TRACKS)
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def store(pool: asyncpg.Pool) -> AsyncIterator[TalentCardStore]:
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            yield TalentCardStore(conn, [])
        finally:
            await transaction.rollback()


@pytest.fixture
def reads(store: TalentCardStore) -> Reads:
    async def audited() -> list[tuple[str, str, str]]:
        rows = await store.conn.fetch("SELECT actor, route, person_id FROM read_audit")
        return [(r["actor"], r["route"], r["person_id"]) for r in rows]

    return audited
