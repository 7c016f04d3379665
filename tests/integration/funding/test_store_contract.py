"""The PostgreSQL store passes the funding store's contract (as the in-memory fake does), on a throw-away schema."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import funding
from funding.store import FundingStore
from plan_runtime import RUNTIME_MIGRATIONS, migrate
from tests.integration.conftest import Schema
from tests.support.contracts.funding_store import *  # noqa: F403 (the contract's tests)

FUNDING_MIGRATIONS = Path(funding.__file__).parent / "migrations"


@pytest.fixture
async def store(schema: Schema) -> AsyncIterator[FundingStore]:
    await migrate(schema.pool, schema.name, {"runtime": RUNTIME_MIGRATIONS, "funding": FUNDING_MIGRATIONS})
    async with schema.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            yield FundingStore(conn)
        finally:
            await transaction.rollback()
