"""Audit of the reads that matter: who looked at which person's record, and through which route.

A route that returns a person's record (masked ID number, enrolments, determinations) records one row per
person it showed, in the same service's append-only `read_audit` table (its runtime role may INSERT and
SELECT it, never UPDATE or DELETE it). The Bureau queries it with `GET /read-audit`.
"""

from collections.abc import Callable, Iterable
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field

from plan_runtime.db import Connection
from plan_runtime.http import PAGED, Transaction, View, paged

PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters in a filter (PostgreSQL refuses NUL)


class ReadAuditEntry(View):
    id: int
    at: datetime
    actor: str = Field(description="the role or institution that read, with the X-Actor person when given")
    route: str = Field(description="what was read")
    person_id: str = Field(description="whose record (the pseudonym)")


async def record_reads(conn: Connection, actor: str, route: str, people: Iterable[str]) -> None:
    """One row per distinct person shown; nothing for an empty answer."""
    distinct = sorted(set(people))
    if distinct:
        await conn.execute(
            "INSERT INTO read_audit (actor, route, person_id) SELECT $1, $2, unnest($3::text[])",
            actor,
            route,
            distinct,
        )


def read_audit_router(guard: Callable[..., str]) -> APIRouter:
    """`GET /read-audit` for the Bureau: newest first, by person and/or actor."""
    router = APIRouter(tags=["operations"], dependencies=[Depends(guard)])

    @router.get("/read-audit", summary="Who read which person's record (newest first)", responses=PAGED)
    async def read_audit(
        unit: Transaction,
        response: Response,
        person_id: str | None = Query(None, max_length=200, pattern=PRINTABLE, description="only reads of this person"),
        actor: str | None = Query(None, max_length=300, pattern=PRINTABLE, description="only reads by this actor"),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> list[ReadAuditEntry]:
        rows = await unit.conn.fetch(
            """SELECT id, at, actor, route, person_id FROM read_audit
               WHERE ($1::text IS NULL OR person_id = $1) AND ($2::text IS NULL OR actor = $2)
               ORDER BY id DESC LIMIT $3 OFFSET $4""",
            person_id,
            actor,
            limit + 1,
            offset,
        )
        return [ReadAuditEntry.model_validate(dict(r)) for r in paged(rows, limit, offset, response)]

    return router
