"""All SQL of the `enrollment` schema: the PostgreSQL `Store` (ports.py), on the unit of work's transaction.

Rows come back typed (domain.py, ports.py); driver errors are translated here into the domain's words.
"""

import contextlib
import operator
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import fields
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

import asyncpg

from enrollment.domain import (
    Enrollment,
    EnrollmentStatus,
    History,
    Institution,
    InstitutionMode,
    InstitutionStatus,
    Raced,
)
from enrollment.ports import (
    ApiKey,
    AuditEntry,
    AuditNote,
    Completion,
    FlaggedDay,
    LegacyIdentity,
    Lock,
    NewEnrollment,
    NewTrainee,
    ProgressRow,
    Store,
    StoredAnswer,
    Withdrawal,
)
from plan_events import Mode, Outcome, TargetGroup, Tier
from plan_runtime.errors import Conflict
from plan_runtime.read_audit import record_reads
from plan_runtime.unit import Unit

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
ENROLLMENT = "SELECT e.*, t.id_masked FROM enrollments e JOIN trainees t USING (trainee_id)"
_AS_LOOKUPS = (
    "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;"
    " SET LOCAL enable_seqscan = off"
)
"""A statement given a batch of keys (a cohort's people, an upload's enrolments) joins them to `enrollments` by an
index lookup per key, planned for the table as it is. On a fresh database the statistics lag the table by up to a
minute (autovacuum's), and the plans made from them were a hash join over a scan of every enrolment, a merge join
over the whole trainee index, or a plan cached by the pooled connection (PostgreSQL's generic plan, kept after
five calls) while the table was empty, which then read every open enrolment for each cohort and each walk-in
(docs/performance.md, ninth round). `SET LOCAL` ends with the unit of work's transaction.

The settings choose among the plans a statement allows; they cannot fix an estimate. So such a statement names no
column but the key it joins on (the institution of an upload's enrolments is checked in Python): with
`institution_id = $2` in it, the planner walked the index of an institution newer than the statistics, thought
to have no rows, and scanned the upload's keys for each of its rows (tenth round)."""


_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _getter(kind: type) -> Callable[[Any], tuple[Any, ...]]:
    if kind not in _GETTERS:
        names = [f.name for f in fields(kind)]
        get = operator.attrgetter(*names)
        _GETTERS[kind] = get if len(names) > 1 else lambda row: (get(row),)
    return _GETTERS[kind]


def _values(row: Any) -> tuple[Any, ...]:
    """A dataclass's fields in order (no deep copy, unlike `astuple`: a cohort has thousands of rows; one C call
    per row, the field names looked up once per class)."""
    return _getter(type(row))(row)


def _row(kind: type[T], row: asyncpg.Record) -> T:
    """A dataclass from the record's columns of the same names (plain values: no vocabulary to type)."""
    return kind(**{f.name: row[f.name] for f in fields(kind)})  # type: ignore[arg-type]


def _institution(row: asyncpg.Record) -> Institution:
    return Institution(
        id=row["id"],
        name=row["name"],
        mode=InstitutionMode(row["mode"]),
        status=InstitutionStatus(row["status"]),
        created_at=row["created_at"],
        status_seq=row["status_seq"],
    )


def _members(*kinds: type[StrEnum]) -> dict[type[StrEnum], dict[str, StrEnum]]:
    return {kind: {member.value: member for member in kind} for kind in kinds}


# a completion upload reads back thousands of enrolments: a dict lookup per column, not an enum call
_MEMBERS = _members(Tier, TargetGroup, Mode, EnrollmentStatus, Outcome)


def _member(kind: type[E], value: str) -> E:
    found = _MEMBERS[kind].get(value)
    return kind(value) if found is None else found  # type: ignore[return-value]  # an unknown value raises as before


def _enrollment(row: asyncpg.Record) -> Enrollment:
    outcome = row["outcome"]
    return Enrollment(
        id=row["id"],
        trainee_id=row["trainee_id"],
        id_masked=row["id_masked"],
        institution_id=row["institution_id"],
        tier=_member(Tier, row["tier"]),
        target_group=_member(TargetGroup, row["target_group"]),
        mode=_member(Mode, row["mode"]),
        starts_on=row["starts_on"],
        niche=row["niche"],
        status=_member(EnrollmentStatus, row["status"]),
        completed_on=row["completed_on"],
        passed=row["passed"],
        outcome=None if outcome is None else _member(Outcome, outcome),
        withdrawn_reason=row["withdrawn_reason"],
        policy_version=row["policy_version"],
        created_at=row["created_at"],
    )


_ENROLLMENT_COLUMNS = [f.name for f in fields(NewEnrollment)]
assert [
    *("id", "trainee_id", "institution_id", "tier", "target_group", "mode", "starts_on", "niche", "policy_version")
] == _ENROLLMENT_COLUMNS, "add_enrollments' INSERT lists the arrays' types in this order"
_TRAINEE_COLUMNS = [f.name for f in fields(NewTrainee)]
assert _TRAINEE_COLUMNS == ["trainee_id", "id_hash", "id_masked", "name", "phone", "birth_date"]


def _columns(rows: Sequence[Any], width: int) -> list[list[Any]]:
    """Dataclass rows as one list per field (the arrays an `unnest` takes); `width` empty lists for no rows."""
    return [list(column) for column in zip(*map(_values, rows), strict=True)] if rows else [[] for _ in range(width)]


_INSERTED_NOT_COPIED = 64  # rows: up to this many, an INSERT (walk-ins, small uploads); more, a COPY


class PostgresStore(Unit):
    """Methods run on the unit's connection, inside its transaction."""

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        before = len(self.published)
        try:
            async with self.conn.transaction():
                yield
        except BaseException:
            del self.published[before:]  # what was published inside goes with what was written
            raise

    # --- institutions and keys -----------------------------------------------------------------

    async def add_institution(self, institution_id: UUID, name: str, mode: InstitutionMode) -> Institution:
        try:
            row = await self.conn.fetchrow(
                "INSERT INTO institutions (id, name, mode, status) VALUES ($1, $2, $3, $4) RETURNING *",
                institution_id,
                name,
                mode.value,
                InstitutionStatus.ACTIVE.value,
            )
        except asyncpg.UniqueViolationError as error:
            raise Conflict("institution_exists", f"an institution named {name!r} exists", "name") from error
        assert row is not None
        return _institution(row)

    async def institution(self, institution_id: UUID, lock: Lock = None) -> Institution | None:
        assert lock in (None, "share", "update")
        row = await self.conn.fetchrow(
            "SELECT * FROM institutions WHERE id = $1" + (f" FOR {lock.upper()}" if lock else ""), institution_id
        )
        return _institution(row) if row else None

    async def institutions(self) -> list[Institution]:
        return [_institution(r) for r in await self.conn.fetch("SELECT * FROM institutions ORDER BY name")]

    async def set_status(self, institution_id: UUID, status: InstitutionStatus) -> int:
        seq: int = await self.conn.fetchval(
            "UPDATE institutions SET status = $2, status_seq = status_seq + 1 WHERE id = $1 RETURNING status_seq",
            institution_id,
            status.value,
        )
        return seq

    async def add_key(self, key_id: UUID, institution_id: UUID, secret_sha256: str) -> None:
        await self.conn.execute(
            "INSERT INTO api_keys (id, institution_id, secret_sha256) VALUES ($1, $2, $3)",
            key_id,
            institution_id,
            secret_sha256,
        )

    async def key(self, key_id: UUID) -> ApiKey | None:
        row = await self.conn.fetchrow(
            "SELECT k.institution_id, k.secret_sha256, i.status FROM api_keys k"
            " JOIN institutions i ON i.id = k.institution_id WHERE k.id = $1 AND k.revoked_at IS NULL",
            key_id,
        )
        if row is None:
            return None
        return ApiKey(row["institution_id"], row["secret_sha256"], InstitutionStatus(row["status"]))

    async def revoke_key(self, institution_id: UUID, key_id: UUID) -> bool:
        done = await self.conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND institution_id = $2 AND revoked_at IS NULL",
            key_id,
            institution_id,
        )
        return bool(done.endswith(" 1"))

    # --- audit ---------------------------------------------------------------------------------

    async def audit(self, *notes: AuditNote) -> None:
        """One statement for one note; a cohort's many in one round trip (COPY)."""
        if len(notes) == 1:
            await self.conn.execute(
                "INSERT INTO audit_log (actor, action, subject, reason) VALUES ($1, $2, $3, $4)", *_values(notes[0])
            )
        elif notes:
            await self.conn.copy_records_to_table(
                "audit_log", records=[_values(n) for n in notes], columns=[f.name for f in fields(AuditNote)]
            )

    async def audit_entries(self, action: str, limit: int, offset: int) -> list[AuditEntry]:
        rows = await self.conn.fetch(
            "SELECT * FROM audit_log WHERE action = $1 ORDER BY id DESC LIMIT $2 OFFSET $3", action, limit, offset
        )
        return [_row(AuditEntry, r) for r in rows]

    async def record_reads(self, actor: str, route: str, people: Sequence[str]) -> None:
        await record_reads(self.conn, actor, route, people)

    async def count_intake(self, institution_id: UUID, day: date, rows: int, refused: int) -> None:
        """One row per request, summed on read: concurrent uploads of one institution never wait on each other
        (an upsert of one counter row per day held each one's row lock until it committed)."""
        await self.conn.execute(
            "INSERT INTO intake_counts (institution_id, day, rows, refused) VALUES ($1, $2, $3, $4)",
            institution_id,
            day,
            rows,
            refused,
        )

    async def flagged(self, share: float, min_rows: int, since: date) -> list[FlaggedDay]:
        rows = await self.conn.fetch(
            """WITH days AS (
                   SELECT institution_id, day, sum(rows)::int AS rows, sum(refused)::int AS refused
                   FROM (SELECT institution_id, day, rows, refused FROM intake_counts WHERE day >= $3
                         UNION ALL  -- counted before 0005_intake_per_request
                         SELECT institution_id, day, rows, refused FROM daily_intake WHERE day >= $3) AS counted
                   GROUP BY institution_id, day)
               SELECT d.institution_id, i.name, i.status, d.day, d.rows, d.refused,
                      round(d.refused::numeric / d.rows, 4)::float8 AS refused_share
               FROM days d JOIN institutions i ON i.id = d.institution_id
               WHERE d.rows >= $2 AND d.refused > d.rows * $1::float8
               ORDER BY d.day DESC, refused_share DESC, i.name""",
            share,
            min_rows,
            since,
        )
        return [FlaggedDay(**{**dict(r), "status": InstitutionStatus(r["status"])}) for r in rows]

    async def legacy_identities(self, limit: int, offset: int = 0) -> list[LegacyIdentity]:
        rows = await self.conn.fetch(
            "SELECT * FROM legacy_identities ORDER BY created_at, trainee_id LIMIT $1 OFFSET $2", limit, offset
        )
        return [_row(LegacyIdentity, r) for r in rows]

    # --- trainees and enrolments ---------------------------------------------------------------

    async def histories(self, trainee_ids: Sequence[str]) -> dict[str, History]:
        # The statuses are sorted out here, not in SQL: the index on trainee_id is then the only one the statement
        # can use (with a status filter, a plan made without statistics scanned a partial index whole); a person
        # has a few enrolments at most.
        await self.conn.execute(_AS_LOOKUPS)
        rows = await self.conn.fetch(
            # a join on unnest, not `= ANY($1)`: its plan stays an index lookup per person at any cohort size
            "SELECT e.trainee_id, e.tier, e.institution_id, e.status, e.passed"
            " FROM unnest($1::text[]) AS p(trainee_id) JOIN enrollments e USING (trainee_id)",
            list(set(trainee_ids)),
        )
        found: dict[str, History] = {t: History() for t in trainee_ids}
        for row in rows:
            history = found[row["trainee_id"]]
            if row["status"] == EnrollmentStatus.OPEN:
                history.open[Tier(row["tier"])] = row["institution_id"]
            elif row["status"] == EnrollmentStatus.COMPLETED and row["passed"]:
                history.passed.add(Tier(row["tier"]))
        return found

    async def add_trainees(self, trainees: Sequence[NewTrainee]) -> None:
        if trainees:
            columns = [f.name for f in fields(NewTrainee)]
            await self.conn.execute(
                f"""INSERT INTO trainees ({", ".join(columns)})
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[])
                   ON CONFLICT DO NOTHING""",
                *map(list, zip(*map(_values, trainees), strict=True)),
            )

    async def add_enrollments(self, enrollments: Sequence[NewEnrollment]) -> None:
        """All or nothing, in one statement: an INSERT from arrays for a few rows (one round trip; a COPY takes two:
        its start, then the data), a COPY for a cohort."""
        if not enrollments:
            return
        try:
            if len(enrollments) <= _INSERTED_NOT_COPIED:
                await self.conn.execute(
                    f"""INSERT INTO enrollments ({", ".join(_ENROLLMENT_COLUMNS)}, status)
                       SELECT *, $10 FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[],
                                                 $6::text[], $7::date[], $8::text[], $9::text[])""",
                    *map(list, zip(*map(_values, enrollments), strict=True)),
                    EnrollmentStatus.OPEN.value,
                )
            else:
                await self.conn.copy_records_to_table(
                    "enrollments",
                    records=[(*_values(e), EnrollmentStatus.OPEN.value) for e in enrollments],
                    columns=[*_ENROLLMENT_COLUMNS, "status"],
                )
        except asyncpg.UniqueViolationError as error:  # another upload took the same person first
            raise Raced() from error

    async def record_intake(
        self,
        trainees: Sequence[NewTrainee],
        enrollments: Sequence[NewEnrollment],
        notes: Sequence[AuditNote],
        count: tuple[UUID, date, int, int],
    ) -> None:
        """A few rows (walk-ins, small uploads): one statement for the four writes, all or nothing (an enrolment
        raced by another request fails the whole statement: `Raced`; the trainees' foreign key is checked at its
        end, when the trainees are in). A cohort: the four writes one after the other (COPY)."""
        if max(len(trainees), len(enrollments), len(notes)) > _INSERTED_NOT_COPIED:
            await self.add_trainees(trainees)
            await self.add_enrollments(enrollments)
            await self.audit(*notes)
            await self.count_intake(*count)
            return
        try:
            await self.conn.execute(
                f"""WITH added AS (
                        INSERT INTO trainees ({", ".join(_TRAINEE_COLUMNS)})
                        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[])
                        ON CONFLICT DO NOTHING),
                    enrolled AS (
                        INSERT INTO enrollments ({", ".join(_ENROLLMENT_COLUMNS)}, status)
                        SELECT *, $16 FROM unnest($7::uuid[], $8::text[], $9::uuid[], $10::text[], $11::text[],
                                                  $12::text[], $13::date[], $14::text[], $15::text[])),
                    audited AS (
                        INSERT INTO audit_log (actor, action, subject, reason)
                        SELECT * FROM unnest($17::text[], $18::text[], $19::text[], $20::text[]))
                   INSERT INTO intake_counts (institution_id, day, rows, refused) VALUES ($21, $22, $23, $24)""",
                *_columns(trainees, len(_TRAINEE_COLUMNS)),
                *_columns(enrollments, len(_ENROLLMENT_COLUMNS)),
                EnrollmentStatus.OPEN.value,
                *_columns(notes, 4),
                *count,
            )
        except asyncpg.UniqueViolationError as error:  # another request took the same person first
            raise Raced() from error

    async def enrollment(self, enrollment_id: UUID, institution_id: UUID, lock: bool = False) -> Enrollment | None:
        row = await self.conn.fetchrow(
            f"{ENROLLMENT} WHERE e.id = $1 AND e.institution_id = $2" + (" FOR UPDATE OF e" if lock else ""),
            enrollment_id,
            institution_id,
        )
        return _enrollment(row) if row else None

    async def enrollments(
        self, institution_id: UUID, status: EnrollmentStatus | None, tier: Tier | None, limit: int, offset: int
    ) -> list[Enrollment]:
        rows = await self.conn.fetch(
            f"{ENROLLMENT} WHERE e.institution_id = $1 AND ($2::text IS NULL OR e.status = $2)"
            " AND ($3::text IS NULL OR e.tier = $3) ORDER BY e.created_at, e.id LIMIT $4 OFFSET $5",
            institution_id,
            None if status is None else status.value,
            None if tier is None else tier.value,
            limit,
            offset,
        )
        return [_enrollment(r) for r in rows]

    async def enrollments_by_id(
        self, ids: Sequence[UUID], institution_id: UUID, lock: bool = False
    ) -> dict[UUID, Enrollment]:
        # The institution is checked here, not in SQL: the primary key is then the statement's only way in. With
        # the institution in the statement, the planner could walk the institution's rows instead and, for each,
        # scan the upload's keys; for an institution newer than the statistics, thought to have none, it did (8 s
        # for 5,000 keys). Another institution's enrolment named in an upload is locked until the upload's
        # transaction ends, and is then "not found", as before.
        await self.conn.execute(_AS_LOOKUPS)
        rows = await self.conn.fetch(
            "SELECT e.*, t.id_masked FROM unnest($1::uuid[]) AS p(id) JOIN enrollments e USING (id)"
            " JOIN trainees t USING (trainee_id)" + (" FOR UPDATE OF e" if lock else ""),
            list(ids),
        )
        return {r["id"]: _enrollment(r) for r in rows if r["institution_id"] == institution_id}

    async def complete(self, completions: Sequence[Completion]) -> None:
        if completions:
            ids, days, passed, outcomes = (list(c) for c in zip(*map(_values, completions), strict=True))
            await self.conn.execute(_AS_LOOKUPS)
            await self.conn.execute(
                """UPDATE enrollments e SET status = $5, completed_on = r.day, passed = r.passed,
                          outcome = r.outcome
                   FROM unnest($1::uuid[], $2::date[], $3::bool[], $4::text[]) AS r(id, day, passed, outcome)
                   WHERE e.id = r.id""",
                ids,
                days,
                passed,
                outcomes,
                EnrollmentStatus.COMPLETED.value,
            )

    async def set_outcome(self, enrollment_id: UUID, outcome: Outcome) -> None:
        await self.conn.execute("UPDATE enrollments SET outcome = $2 WHERE id = $1", enrollment_id, outcome.value)

    async def withdraw(self, withdrawals: Sequence[Withdrawal], notes: Sequence[AuditNote]) -> None:
        if withdrawals or notes:
            await self.conn.execute(_AS_LOOKUPS)  # an upload's keys one by one, never the whole table hashed
            await self.conn.execute(  # one round trip for both (a data-modifying WITH always runs)
                """WITH withdrawn AS (
                       UPDATE enrollments e SET status = $3, withdrawn_reason = r.reason
                       FROM unnest($1::uuid[], $2::text[]) AS r(id, reason) WHERE e.id = r.id)
                   INSERT INTO audit_log (actor, action, subject, reason)
                   SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::text[])""",
                *_columns(withdrawals, 2),
                EnrollmentStatus.WITHDRAWN.value,
                *_columns(notes, 4),
            )

    # --- idempotency ---------------------------------------------------------------------------

    async def claim_idempotency_key(self, principal: str, key: str, request_hash: str) -> StoredAnswer | None:
        inserted = await self.conn.fetchval(
            "INSERT INTO idempotency_keys (principal, key, request_hash, status_code, body)"
            " VALUES ($1, $2, $3, 0, 'null') ON CONFLICT DO NOTHING RETURNING true",
            principal,
            key,
            request_hash,
        )
        if inserted:
            return None
        row = await self.conn.fetchrow(
            "SELECT request_hash, status_code, body FROM idempotency_keys WHERE principal = $1 AND key = $2",
            principal,
            key,
        )
        assert row is not None
        return _row(StoredAnswer, row)

    async def remember_response(self, principal: str, key: str, status: int, body: Any) -> None:
        await self.conn.execute(
            "UPDATE idempotency_keys SET status_code = $3, body = $4::jsonb WHERE principal = $1 AND key = $2",
            principal,
            key,
            status,
            body,  # the pool's jsonb codec encodes it
        )

    # --- progress ------------------------------------------------------------------------------

    async def progress(self) -> list[ProgressRow]:
        """Counts by tier, alone and crossed with start year, completion year, target group, institution."""
        rows = await self.conn.fetch(
            """SELECT tier, target_group, institution_id,
                      extract(year FROM starts_on)::int AS start_year,
                      extract(year FROM completed_on)::int AS completion_year,
                      GROUPING(target_group, institution_id, extract(year FROM starts_on),
                               extract(year FROM completed_on)) AS grouping,
                      count(*) AS enrolled,
                      count(*) FILTER (WHERE status = 'open') AS open,
                      count(*) FILTER (WHERE status = 'completed' AND passed) AS completed,
                      count(*) FILTER (WHERE status = 'completed' AND NOT passed) AS failed,
                      count(*) FILTER (WHERE status = 'withdrawn') AS withdrawn,
                      count(*) FILTER (WHERE passed AND outcome = 'employed') AS employed,
                      count(*) FILTER (WHERE passed AND outcome = 'own_business') AS own_business
               FROM enrollments
               GROUP BY GROUPING SETS ((tier), (tier, extract(year FROM starts_on)),
                                       (tier, extract(year FROM completed_on)),
                                       (tier, target_group), (tier, institution_id))
               ORDER BY tier"""
        )
        return [ProgressRow(**{**dict(r), "tier": Tier(r["tier"])}) for r in rows]


def _conforms(store: PostgresStore) -> Store:
    return store  # mypy checks here that the PostgreSQL store is a `Store`
