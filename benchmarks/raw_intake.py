"""Benchmark: the database's ceiling for the intake, a hand-written asyncpg chain doing an upload's writes alone.

    .venv/bin/python -m benchmarks.raw_intake --rows 110200 --chunk 10000 --parallel 2

The denominator of `benchmarks.bulk_enrolment`, as `benchmarks.raw_baseline` is the funding replay's: the same
PostgreSQL, the same tables and indexes (a scratch schema migrated with enrollment's own migrations, dropped
after), the same statements per chunk, and none of the service around them: no HTTP, no parsing or validation,
no pseudonymisation, no rules, no event encoding, no relay, broker or consumers. Every row, its trainee and its
event's bytes are built before the clock starts. So this is the most any intake could reach on this box with
these writes, whatever the service's code; the service's rate over it is how much of it the service keeps.

Per chunk of an enrolment upload, one transaction (as `enrollment.handlers.enrol` and its store):
the institution's row `FOR SHARE`; the people's histories (a join on `unnest`, an index lookup per person); the
trainees (`INSERT … SELECT FROM unnest … ON CONFLICT DO NOTHING`); the enrolments (`COPY`, through their two
foreign keys and five indexes); the request's intake count; the events' outbox rows with the NOTIFY that wakes
a relay; commit (synchronous, as the cluster is configured).
Per chunk of a completion upload, one transaction (as `enrollment.handlers.complete`): the institution's row
`FOR SHARE`; the enrolments by id `FOR UPDATE` (with their trainee); the `UPDATE … FROM unnest`; the events'
outbox rows; commit.

`--parallel N` runs N chunks at once, each on its own connection, as `bulk_enrolment --parallel N` sends N
uploads to the service's worker processes.
"""

import asyncio
import hashlib
import hmac
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

import asyncpg
import typer
import uvloop

from infra import postgres
from plan_events import TierCompleted, TraineeEnrolled
from plan_runtime.db import create_pool
from plan_runtime.migrations import migrate
from plan_runtime.migrator import tracks
from simulation.cohort import Population, course_end, start_date

_LOOKUPS = (  # what the store's batch statements take: an index lookup per key at any table size
    "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;"
    " SET LOCAL enable_seqscan = off"
)
_ENROLMENT_COLUMNS = [
    *("id", "trainee_id", "institution_id", "tier", "target_group", "mode", "starts_on", "niche", "policy_version"),
    "status",
]
_APPEND = """WITH appended AS (
                 INSERT INTO outbox (event_id, topic, key, value)
                 SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[]) RETURNING id)
             SELECT pg_notify('outbox_' || current_schema(), min(id)::text) FROM appended"""


@dataclass
class Result:
    accepted: int
    elapsed: float
    completed: int
    completions_elapsed: float
    written: dict[str, int]  # what the chain left in its tables, read before they are dropped: its work was done

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0

    @property
    def completions_rate(self) -> float:
        return self.completed / self.completions_elapsed if self.completions_elapsed else 0.0


@dataclass
class Chunk:
    """One upload's rows as the store's arrays, and its events' outbox columns: built before the clock starts."""

    trainee_ids: list[str]
    trainees: list[list[Any]]  # trainee_id, id_hash, id_masked, name, phone, birth_date
    enrolments: list[tuple[Any, ...]]
    completions: list[list[Any]]  # id, day, passed, outcome
    enrolled_events: list[list[Any]]  # event_id, topic, key, value
    completed_events: list[list[Any]]


def _events(events: list[TraineeEnrolled] | list[TierCompleted]) -> list[list[Any]]:
    return [
        [e.event_id for e in events],
        [e.topic for e in events],
        [e.key() for e in events],
        [e.to_bytes() for e in events],
    ]


def chunks(rows: int, chunk: int, institution_id: uuid.UUID) -> list[Chunk]:
    """The rows `bulk_enrolment` sends (the simulator's people, basic tier, offline), as the service would write
    them, with a completion for each."""
    rng = random.Random(7)
    people = Population(rng)
    key = uuid.uuid4().bytes
    now = datetime.now(UTC)
    built = []
    for first in range(0, rows, chunk):
        trainees: list[list[Any]] = [[], [], [], [], [], []]
        enrolments, completions, enrolled, completed = [], [[], [], [], []], [], []
        for _ in range(min(chunk, rows - first)):
            person = people.person()
            digest = hmac.new(key, person.id_number.encode(), hashlib.sha256).hexdigest()
            trainee_id, starts_on = f"T{digest[:20]}", start_date(rng)
            born = date(int(person.id_number[6:10]), int(person.id_number[10:12]), int(person.id_number[12:14]))
            for column, value in zip(
                trainees,
                (
                    trainee_id,
                    digest,
                    person.id_number[:6] + "********" + person.id_number[-4:],
                    person.name,
                    person.phone,
                    born,
                ),
                strict=True,
            ):
                column.append(value)
            enrolment_id = uuid.uuid4()
            enrolments.append(
                (
                    enrolment_id,
                    trainee_id,
                    institution_id,
                    "basic",
                    person.target_group,
                    "offline",
                    starts_on,
                    person.niche,
                    "raw",
                    "open",
                )
            )
            ended, passed = course_end(rng, starts_on), rng.random() < 0.92
            for column, value in zip(completions, (enrolment_id, ended, passed, None), strict=True):
                column.append(value)
            common = {
                "source": "enrollment",
                "subject": trainee_id,
                "occurred_at": now,
                "enrollment_id": enrolment_id,
                "trainee_id": trainee_id,
                "institution_id": institution_id,
                "tier": "basic",
                "target_group": person.target_group,
            }
            enrolled.append(TraineeEnrolled.create(**common, mode="offline", starts_on=starts_on, niche=person.niche))
            completed.append(
                TierCompleted.create(
                    **common, completed_on=ended, passed=passed, institution_status="active", institution_status_seq=0
                )
            )
        built.append(Chunk(trainees[0], trainees, enrolments, completions, _events(enrolled), _events(completed)))
    return built


async def enrol(conn: asyncpg.Connection, institution_id: uuid.UUID, chunk: Chunk) -> int:
    async with conn.transaction():
        await conn.fetchrow("SELECT * FROM institutions WHERE id = $1 FOR SHARE", institution_id)
        await conn.execute(_LOOKUPS)
        await conn.fetch(
            "SELECT e.trainee_id, e.tier, e.institution_id, e.status, e.passed"
            " FROM unnest($1::text[]) AS p(trainee_id) JOIN enrollments e USING (trainee_id)",
            chunk.trainee_ids,
        )
        await conn.execute(
            "INSERT INTO trainees (trainee_id, id_hash, id_masked, name, phone, birth_date)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[])"
            " ON CONFLICT DO NOTHING",
            *chunk.trainees,
        )
        await conn.copy_records_to_table("enrollments", records=chunk.enrolments, columns=_ENROLMENT_COLUMNS)
        await conn.execute(
            "INSERT INTO intake_counts (institution_id, day, rows, refused) VALUES ($1, $2, $3, 0)",
            institution_id,
            date.today(),
            len(chunk.enrolments),
        )
        await conn.execute(_APPEND, *chunk.enrolled_events)
    return len(chunk.enrolments)


async def complete(conn: asyncpg.Connection, institution_id: uuid.UUID, chunk: Chunk) -> int:
    async with conn.transaction():
        await conn.fetchrow("SELECT * FROM institutions WHERE id = $1 FOR SHARE", institution_id)
        await conn.execute(_LOOKUPS)
        await conn.fetch(
            "SELECT e.*, t.id_masked FROM unnest($1::uuid[]) AS p(id) JOIN enrollments e USING (id)"
            " JOIN trainees t USING (trainee_id) FOR UPDATE OF e",
            chunk.completions[0],
        )
        await conn.execute(
            "UPDATE enrollments e SET status = 'completed', completed_on = r.day, passed = r.passed,"
            " outcome = r.outcome FROM unnest($1::uuid[], $2::date[], $3::bool[], $4::text[])"
            " AS r(id, day, passed, outcome) WHERE e.id = r.id",
            *chunk.completions,
        )
        await conn.execute(_APPEND, *chunk.completed_events)
    return len(chunk.enrolments)


async def _all(pool: asyncpg.Pool, step: Any, institution_id: uuid.UUID, work: list[Chunk], parallel: int) -> float:
    gate = asyncio.Semaphore(parallel)

    async def one(chunk: Chunk) -> int:
        async with gate, pool.acquire() as conn:
            done: int = await step(conn, institution_id, chunk)
            return done

    started = time.perf_counter()
    await asyncio.gather(*(one(c) for c in work))
    return time.perf_counter() - started


async def run(rows: int, chunk: int, parallel: int = 1, dsn: str | None = None) -> Result:
    """Migrate a scratch schema, build the rows (untimed), time the enrolment chunks, then the completion chunks;
    drop the schema. `dsn`: a role that may create schemas (the local cluster's admin by default)."""
    schema = f"raw_intake_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(dsn or postgres.admin_url(), schema, size=parallel)
    try:
        await migrate(pool, schema, tracks("enrollment"))
        institution_id = uuid.uuid4()
        await pool.execute(
            "INSERT INTO institutions (id, name, mode, status) VALUES ($1, 'Raw Intake', 'both', 'active')",
            institution_id,
        )
        work = chunks(rows, chunk, institution_id)
        await pool.execute("ANALYZE")  # as a database in use: the service's tables have statistics too
        enrolled = await _all(pool, enrol, institution_id, work, parallel)
        completed = await _all(pool, complete, institution_id, work, parallel)
        written = await pool.fetchrow(
            """SELECT (SELECT count(*) FROM trainees) AS trainees,
                      (SELECT count(*) FROM enrollments WHERE status = 'completed') AS completed_enrolments,
                      (SELECT count(*) FROM outbox) AS outbox_rows,
                      (SELECT sum(rows) FROM intake_counts) AS counted"""
        )
        return Result(rows, enrolled, rows, completed, {k: int(v) for k, v in written.items()})
    finally:
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()


def main(
    rows: Annotated[int, typer.Option(help="rows to enrol, then complete")] = 110_200,
    chunk: Annotated[int, typer.Option(help="rows per transaction (an upload)")] = 10_000,
    parallel: Annotated[int, typer.Option(min=1, help="transactions in flight at once, one connection each")] = 1,
) -> None:
    """The database's ceiling for the intake: an upload's writes by hand-written asyncpg, and their rates."""
    result = uvloop.run(run(rows, chunk, parallel))
    print(
        f"raw intake: {result.accepted:,} enrolments in {result.elapsed:.1f}s = {result.rate:,.0f} rows/s;"
        f" {result.completed:,} completions in {result.completions_elapsed:.1f}s = {result.completions_rate:,.0f}"
        f" rows/s (chunks of {chunk:,}, {parallel} at once); written: "
        + ", ".join(f"{count:,} {what.replace('_', ' ')}" for what, count in result.written.items())
    )


if __name__ == "__main__":
    typer.run(main)
