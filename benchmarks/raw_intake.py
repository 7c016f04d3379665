"""Benchmark: the database's ceiling for the intake, a hand-written asyncpg chain doing an upload's writes alone.

    .venv/bin/python -m benchmarks.raw_intake --rows 110200 --chunk 10000 --parallel 2

The denominator of `benchmarks.bulk_enrolment`, as `benchmarks.raw_baseline` is the funding replay's: the same
PostgreSQL, the same tables and indexes (a scratch schema migrated with enrollment's own migrations, dropped
after), holding as many rows as enrollment's (its institutions, trainees and enrolments are copied in first, so the
indexes the writes go through are as deep), the same statements per chunk, and none of the service around them:
no HTTP, no parsing or validation, no pseudonymisation, no rules, no event encoding, no relay, broker or
consumers. Every row, its trainee (the service's pseudonym and masked number), its time-ordered id and its event's
bytes are built before the clock starts, and each connection is opened before it. So this is about the most any
intake could reach on this box with these writes, whatever the service's code; the service's rate over it is how
much of it the service keeps. Left out: the API key's look-up (one small query per upload).

Per chunk of an enrolment upload, one transaction, as `enrollment.handlers.enrol` and its store write it: a
savepoint; the institution's row `FOR SHARE`; the people's histories (a join on `unnest`, planned as an index lookup
per person); the trainees (`INSERT … SELECT FROM unnest … ON CONFLICT DO NOTHING`); the enrolments (`COPY`, through
their two foreign keys and five indexes); the request's intake count; then the events' outbox rows with the NOTIFY
that wakes a relay; commit (synchronous, as the cluster is configured).
Per chunk of a completion upload, one transaction (as `enrollment.handlers.complete`): the institution's row
`FOR SHARE`; the enrolments by id `FOR UPDATE` (with their trainee); the `UPDATE … FROM unnest` (95 % passed, each
with an outcome, as `bulk_enrolment` sends); the events' outbox rows; commit.

`--parallel N` runs N chunks at once, each on its own connection, as `bulk_enrolment --parallel N` sends N
uploads to the service's worker processes.
"""

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any

import asyncpg
import typer
import uvloop

from benchmarks import bulk_enrolment
from enrollment.store import _AS_LOOKUPS, _ENROLLMENT_COLUMNS  # the store's batch settings and columns
from infra import postgres
from plan_events import TierCompleted, TraineeEnrolled
from plan_events.identity import pseudonymise
from plan_events.ids import new_id
from plan_runtime.db import create_pool
from plan_runtime.migrations import migrate
from plan_runtime.migrator import tracks
from plan_runtime.outbox import APPEND  # emit's own statement
from simulation.cohort import Population, course_end, start_date

_ENROLMENT_COLUMNS = [*_ENROLLMENT_COLUMNS, "status"]  # as the store's COPY lists them


@dataclass(frozen=True)
class Result(bulk_enrolment.Result):
    """The same rates as the service's intake, which are compared with them."""

    written: dict[str, int] = field(default_factory=dict)  # the chain's rows, read before its schema is dropped


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
            pseudonym, starts_on = pseudonymise(person.id_number, key), start_date(rng)
            trainee_id = pseudonym.trainee_id
            born = date(int(person.id_number[6:10]), int(person.id_number[10:12]), int(person.id_number[12:14]))
            row = (trainee_id, pseudonym.id_hash, pseudonym.masked, person.name, person.phone, born)
            for column, value in zip(trainees, row, strict=True):
                column.append(value)
            enrolment_id = new_id()
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
            ended, passed = course_end(rng, starts_on), rng.random() >= 0.05
            outcome = rng.choice(("employed", "own_business", "seeking")) if passed else None
            for column, value in zip(completions, (enrolment_id, ended, passed, outcome), strict=True):
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
                    **common,
                    completed_on=ended,
                    passed=passed,
                    outcome=outcome,
                    institution_status="active",
                    institution_status_seq=0,
                )
            )
        built.append(Chunk(trainees[0], trainees, enrolments, completions, _events(enrolled), _events(completed)))
    return built


async def enrol(conn: asyncpg.Connection, institution_id: uuid.UUID, chunk: Chunk) -> int:
    async with conn.transaction():
        async with conn.transaction():  # the use case's savepoint (a raced upload decides again)
            await conn.fetchrow("SELECT * FROM institutions WHERE id = $1 FOR SHARE", institution_id)
            await conn.execute(_AS_LOOKUPS)
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
            copied = await conn.copy_records_to_table(
                "enrollments", records=chunk.enrolments, columns=_ENROLMENT_COLUMNS
            )
            await conn.execute(
                "INSERT INTO intake_counts (institution_id, day, rows, refused) VALUES ($1, $2, $3, 0)",
                institution_id,
                date.today(),
                len(chunk.enrolments),
            )
        await conn.execute(APPEND, *chunk.enrolled_events)
    return int(copied.split()[-1])  # "COPY n": the rows written


async def complete(conn: asyncpg.Connection, institution_id: uuid.UUID, chunk: Chunk) -> int:
    async with conn.transaction():
        await conn.fetchrow("SELECT * FROM institutions WHERE id = $1 FOR SHARE", institution_id)
        await conn.execute(_AS_LOOKUPS)
        await conn.fetch(
            "SELECT e.*, t.id_masked FROM unnest($1::uuid[]) AS p(id) JOIN enrollments e USING (id)"
            " JOIN trainees t USING (trainee_id) FOR UPDATE OF e",
            chunk.completions[0],
        )
        await conn.execute(_AS_LOOKUPS)  # the store's update takes them again
        updated = await conn.execute(
            "UPDATE enrollments e SET status = 'completed', completed_on = r.day, passed = r.passed,"
            " outcome = r.outcome FROM unnest($1::uuid[], $2::date[], $3::bool[], $4::text[])"
            " AS r(id, day, passed, outcome) WHERE e.id = r.id",
            *chunk.completions,
        )
        await conn.execute(APPEND, *chunk.completed_events)
    return int(updated.split()[-1])  # "UPDATE n": the rows completed


async def _all(
    pool: asyncpg.Pool, step: Any, institution_id: uuid.UUID, work: list[Chunk], parallel: int
) -> tuple[int, float]:
    """Rows written by `step` over every chunk (at most `parallel` at once), and the time it took."""
    gate = asyncio.Semaphore(parallel)

    async def one(chunk: Chunk) -> int:
        async with gate, pool.acquire() as conn:
            done: int = await step(conn, institution_id, chunk)
            return done

    started = time.perf_counter()
    done = await asyncio.gather(*(one(c) for c in work))
    return sum(done), time.perf_counter() - started


_FILLED = ("institutions", "trainees", "enrollments")  # in the order their foreign keys need


async def run(rows: int, chunk: int, parallel: int = 1, dsn: str | None = None, like: str = "enrollment") -> Result:
    """Migrate a scratch schema, copy in the rows of schema `like` (if it exists), build the rows (all untimed),
    time the enrolment chunks, then the completion chunks; drop the schema. `dsn`: a role that may create schemas
    and read `like` (the local cluster's admin by default)."""
    schema = f"raw_intake_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(dsn or postgres.admin_url(), schema, size=parallel)
    try:
        await migrate(pool, schema, tracks("enrollment"))
        if await pool.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", like):
            for table in _FILLED:  # the same migrations: the same columns, in the same order
                await pool.execute(f'INSERT INTO {table} SELECT * FROM "{like}".{table}')
        institution_id = uuid.uuid4()
        await pool.execute(
            "INSERT INTO institutions (id, name, mode, status) VALUES ($1, $2, 'both', 'active')",
            institution_id,
            f"Raw Intake {institution_id}",
        )
        work = chunks(rows, chunk, institution_id)
        await pool.execute(f"ANALYZE {', '.join(_FILLED)}")  # statistics, as the service's tables have
        held = [await pool.acquire() for _ in range(parallel)]  # every connection open before the clock
        for conn in held:
            await pool.release(conn)
        accepted, enrolled = await _all(pool, enrol, institution_id, work, parallel)
        completed, completing = await _all(pool, complete, institution_id, work, parallel)
        written = await pool.fetchrow(
            """SELECT (SELECT count(*) FROM trainees t WHERE EXISTS (
                           SELECT 1 FROM enrollments e WHERE e.trainee_id = t.trainee_id AND e.institution_id = $1))
                          AS trainees,
                      (SELECT count(*) FROM enrollments WHERE institution_id = $1 AND status = 'completed')
                          AS completed_enrolments,
                      (SELECT count(*) FROM outbox) AS outbox_rows,
                      (SELECT sum(rows) FROM intake_counts WHERE institution_id = $1) AS counted""",
            institution_id,
        )
        return Result(accepted, enrolled, completed, completing, {k: int(v) for k, v in written.items()})
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
