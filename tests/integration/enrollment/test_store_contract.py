"""The store contract (tests/support/contracts/enrollment_store.py) on the PostgreSQL store, in a throw-away
schema migrated like the service's own, each test on one unit of work (one transaction, rolled back)."""

import json
from collections.abc import AsyncIterator
from datetime import date

import pytest

from enrollment.ports import Completion, Withdrawal
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


DEFAULTS = (
    "SET LOCAL plan_cache_mode = auto; SET LOCAL enable_hashjoin = on; SET LOCAL enable_mergejoin = on;"
    " SET LOCAL enable_seqscan = on"
)


async def test_a_batch_of_keys_stays_an_index_lookup_per_key_when_the_table_grows_from_empty(
    store: PostgresStore,
) -> None:
    """A fresh database starts with no enrolments, and its statistics lag the table. The statements given a batch of
    keys (the people of a cohort, the enrolments of an upload) must not keep or make a plan for the empty table
    they were first run on (a cached generic plan of the histories read every open enrolment on each call; a
    completion upload's update scanned the whole table): after 20,000 enrolments, each statement as the
    connection runs it reads a few pages for one key, not the table. Each call starts from the planner's defaults,
    as each unit of work does (the test runs in one transaction)."""
    village = await an_institution(store)
    await store.conn.execute("ANALYZE enrollments")  # as autovacuum may have found it: empty
    day = date(2020, 9, 1)
    calls = {
        "AS p(trainee_id) JOIN enrollments": lambda key: store.histories([key.trainee_id]),
        "AS p(id) JOIN enrollments": lambda key: store.enrollments_by_id([key.id], village.id, lock=True),
        "SET status = $5, completed_on": lambda key: store.complete([Completion(key.id, day, True, None)]),
        "withdrawn_reason = r.reason": lambda key: store.withdraw([Withdrawal(key.id, "moved away")], []),
    }
    for _ in range(8):  # more than the five calls after which PostgreSQL may keep a generic plan
        for call in calls.values():
            await store.conn.execute(DEFAULTS)
            await call(an_enrolment(a_trainee(), village))
    people = [a_trainee() for _ in range(20_000)]
    await store.add_trainees(people)
    enrolments = [an_enrolment(p, village) for p in people]
    await store.add_enrollments(enrolments)
    assert (await store.histories([people[7].trainee_id]))[people[7].trainee_id].open == {Tier.BASIC: village.id}
    one, nothing = enrolments[9].id, "ARRAY[]::text[]"  # EXECUTE takes no parameters: literals (uuids, tr- and hex)
    arguments = {
        "AS p(trainee_id) JOIN enrollments": f"ARRAY['{people[9].trainee_id}']",
        "AS p(id) JOIN enrollments": f"ARRAY['{one}'::uuid]",
        "SET status = $5, completed_on": (
            f"ARRAY['{one}'::uuid], ARRAY['2020-09-01'::date], ARRAY[true], ARRAY[NULL::text], 'completed'"
        ),
        "withdrawn_reason = r.reason": f"ARRAY['{one}'::uuid], ARRAY['moved'], 'withdrawn', {', '.join([nothing] * 4)}",
    }
    for fragment, call in calls.items():
        await store.conn.execute(DEFAULTS)
        await call(enrolments[7])  # the statement as a unit of work runs it, on the grown table
        statements = await store.conn.fetch("SELECT name, statement FROM pg_prepared_statements")
        [name] = [r["name"] for r in statements if fragment in r["statement"]]
        [plan] = json.loads(
            await store.conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE {name}({arguments[fragment]})")
        )
        pages = plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"]
        assert pages < 40, f"{fragment}: {pages} pages read for one key: {json.dumps(plan)}"


def _scans(plan: dict[str, object], relation: str) -> list[str]:
    """How a plan reads `relation`, node by node: the index and its condition ("Seq Scan" for a scan)."""
    found = []
    if plan.get("Relation Name") == relation and plan["Node Type"] != "ModifyTable":
        found.append(f"{plan.get('Index Name', plan['Node Type'])} {plan.get('Index Cond', 'without a condition')}")
    for child in plan.get("Plans", []):  # type: ignore[attr-defined]
        found += _scans(child, relation)
    return found


async def test_a_batch_for_an_institution_newer_than_the_statistics_is_read_key_by_key(store: PostgresStore) -> None:
    """The statistics know the institutions of the last ANALYZE; an institution that came after it (a new one, or
    one whose rows all came since) looks empty to the planner. A batch of thousands of its keys must still be read
    one key at a time, through the key's index: a plan that walked the institution's rows (thought to be none)
    and, for each, scanned the upload's keys took 8 s for 5,000 keys of an institution with 10,000 enrolments."""
    older, newer = await an_institution(store), await an_institution(store)
    others = [a_trainee() for _ in range(5_000)]
    await store.add_trainees(others)
    await store.add_enrollments([an_enrolment(p, older) for p in others])
    await store.conn.execute("ANALYZE enrollments")
    people = [a_trainee() for _ in range(5_000)]
    await store.add_trainees(people)
    enrolments = [an_enrolment(p, newer) for p in people]
    await store.add_enrollments(enrolments)
    batch, day = enrolments[:2_000], date(2020, 9, 1)

    def array(item: str) -> str:  # EXECUTE takes no parameters: an array literal of one item per key
        return "ARRAY[" + ", ".join([item] * len(batch)) + "]"

    ids = "ARRAY[" + ", ".join(f"'{e.id}'::uuid" for e in batch) + "]"
    statements = {  # fragment: the call as a unit of work makes it, its arguments for EXECUTE, the scan expected
        "AS p(trainee_id) JOIN enrollments": (
            lambda: store.histories([e.trainee_id for e in batch]),
            "ARRAY[" + ", ".join(f"'{e.trainee_id}'" for e in batch) + "]",
            "enrollments_by_trainee (trainee_id = p.trainee_id)",
        ),
        "AS p(id) JOIN enrollments": (
            lambda: store.enrollments_by_id([e.id for e in batch], newer.id, lock=True),
            ids,
            "enrollments_pkey (id = p.id)",
        ),
        "SET status = $5, completed_on": (
            lambda: store.complete([Completion(e.id, day, True, None) for e in batch]),
            ", ".join([ids, array("'2020-09-01'::date"), array("true"), array("NULL::text"), "'completed'"]),
            "enrollments_pkey (id = r.id)",
        ),
        "withdrawn_reason = r.reason": (
            lambda: store.withdraw([Withdrawal(e.id, "moved away") for e in batch], []),
            ", ".join([ids, array("'moved'"), "'withdrawn'", *["ARRAY[]::text[]"] * 4]),
            "enrollments_pkey (id = r.id)",
        ),
    }
    for fragment, (call, arguments, lookup) in statements.items():
        await store.conn.execute(DEFAULTS)
        await call()
        [name] = [
            r["name"]
            for r in await store.conn.fetch("SELECT name, statement FROM pg_prepared_statements")
            if fragment in r["statement"]
        ]
        [plan] = json.loads(await store.conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {name}({arguments})"))
        # each key looked up through its index, not the table walked once per key (nor whole)
        assert _scans(plan["Plan"], "enrollments") == [lookup], f"{fragment}: {json.dumps(plan)}"
    assert len(await store.enrollments_by_id([e.id for e in batch], newer.id)) == len(batch)
    assert await store.enrollments_by_id([e.id for e in batch], older.id) == {}
