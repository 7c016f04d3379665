"""The intake's denominator (`benchmarks.raw_intake`) does the writes it claims, in enrollment's own tables, and
leaves nothing behind: a ceiling measured on less work than the service does would be no ceiling."""

import asyncpg

from benchmarks import raw_intake
from tests.infrastructure import Infrastructure


async def test_the_raw_chain_writes_every_row_and_event_then_drops_its_schema(infrastructure: Infrastructure) -> None:
    before = await _raw_schemas(infrastructure.database_url)

    result = await raw_intake.run(rows=450, chunk=100, parallel=2, dsn=infrastructure.database_url)

    assert (result.accepted, result.completed) == (450, 450)
    assert result.written == {
        "trainees": 450,
        "completed_enrolments": 450,  # every enrolment was written, then completed
        "outbox_rows": 900,  # an enrolment's event and a completion's, each in its own transaction
        "counted": 450,
    }
    assert result.elapsed > 0 and result.completions_elapsed > 0
    assert await _raw_schemas(infrastructure.database_url) == before  # dropped


async def _raw_schemas(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r[0] for r in await conn.fetch("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'raw_intake_%'")}
    finally:
        await conn.close()
