"""The store contract (tests/support/contracts/enrollment_store.py) on the PostgreSQL store, in a throw-away
schema migrated like the service's own, each test on one unit of work (one transaction, rolled back)."""

import json
from collections.abc import AsyncIterator

import pytest

from enrollment.store import PostgresStore
from plan_events import Tier
from plan_runtime.db import create_pool
from plan_runtime.migrations import migrate
from plan_runtime.migrator import tracks
from tests.infrastructure import Infrastructure
from tests.integration.conftest import Schema
from tests.support.contracts.enrollment_store import *  # noqa: F403 (the contract's tests, run here on PostgreSQL)
from tests.support.contracts.enrollment_store import Reads, a_trainee, an_enrolment, an_institution


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


async def test_the_histories_stay_an_index_lookup_when_the_table_grows_from_empty(store: PostgresStore) -> None:
    """A fresh database starts with no enrolments. Called often enough on the empty table, the histories' statement
    must not keep a plan chosen for it (PostgreSQL's cached generic plan read every open enrolment on each call
    once the table had grown): after 20,000 enrolments, the statement as the connection runs it reads a few pages
    for one person, not the table."""
    village = await an_institution(store)
    await store.conn.execute("ANALYZE enrollments")  # as autovacuum may have found it: empty
    for _ in range(8):  # more than the five calls after which PostgreSQL may keep a generic plan
        await store.histories([a_trainee().trainee_id])
    people = [a_trainee() for _ in range(20_000)]
    await store.add_trainees(people)
    await store.add_enrollments([an_enrolment(p, village) for p in people])
    assert (await store.histories([people[7].trainee_id]))[people[7].trainee_id].open == {Tier.BASIC: village.id}
    [name] = [
        r["name"]
        for r in await store.conn.fetch("SELECT name, statement FROM pg_prepared_statements")
        if "AS p(trainee_id) JOIN enrollments" in r["statement"]
    ]
    [plan] = json.loads(
        await store.conn.fetchval(
            # EXECUTE takes no parameters: the id (tr- and hex digits) as a literal
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE {name}(ARRAY['{people[9].trainee_id}'])"
        )
    )
    pages = plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"]
    assert pages < 40, f"{pages} pages read for one person: {json.dumps(plan)}"
