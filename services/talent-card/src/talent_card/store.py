"""All SQL of the `talent_card` schema: the PostgreSQL store, on the unit of work's connection and transaction.

Rows leave it typed (talent_card.domain); the driver's unique violations leave it as domain errors."""

from collections.abc import Iterable
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from plan_events import EligibilityRoute
from plan_runtime import read_audit
from plan_runtime.errors import Conflict, Invalid
from plan_runtime.unit import Unit
from talent_card.domain import (
    Determination,
    DeterminationRecord,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    Notice,
    NoticeCount,
    NoticeFilter,
    NoticeStatus,
    PlanProgress,
    Talent,
)


class TalentCardStore(Unit):
    # --- plan route ------------------------------------------------------------------------------

    async def senior_completed(self, person_id: str, completed_on: date) -> PlanProgress:
        return await self._progress(
            "senior_completed_on", "senior_completed_on = EXCLUDED.senior_completed_on", person_id, completed_on
        )

    async def senior_subsidy_approved(self, person_id: str, subsidy_id: UUID) -> PlanProgress:
        """An approval counts unless that very subsidy was already reported reversed (topics are separate)."""
        return await self._progress(
            "senior_subsidy_id",
            "senior_subsidy_id = CASE WHEN plan_progress.reversed_subsidy_id = EXCLUDED.senior_subsidy_id"
            " THEN plan_progress.senior_subsidy_id ELSE EXCLUDED.senior_subsidy_id END",
            person_id,
            subsidy_id,
        )

    async def senior_subsidy_reversed(self, person_id: str, subsidy_id: UUID) -> PlanProgress:
        return await self._progress(
            "reversed_subsidy_id",
            "reversed_subsidy_id = EXCLUDED.reversed_subsidy_id, senior_subsidy_id = CASE"
            " WHEN plan_progress.senior_subsidy_id = EXCLUDED.reversed_subsidy_id THEN NULL"
            " ELSE plan_progress.senior_subsidy_id END",
            person_id,
            subsidy_id,
        )

    async def _progress(self, column: str, on_conflict: str, person_id: str, value: object) -> PlanProgress:
        """The one upsert of a person's progress: `column` set on a new row, `on_conflict` on an existing one."""
        row = await self.conn.fetchrow(
            f"INSERT INTO plan_progress (person_id, {column}) VALUES ($1, $2)"
            f" ON CONFLICT (person_id) DO UPDATE SET {on_conflict}"
            " RETURNING person_id, senior_completed_on, senior_subsidy_id",
            person_id,
            value,
        )
        assert row is not None
        return PlanProgress(**row)

    # --- introduced route ----------------------------------------------------------------------

    async def add_talent(
        self, talent_id: UUID, person_id: str, id_masked: str, name: str, actor: str, key: str | None = None
    ) -> bool:
        try:
            async with self.conn.transaction():  # a savepoint: a refusal leaves the unit of work usable
                inserted = await self.conn.fetchval(
                    "INSERT INTO talents (id, person_id, id_masked, display_name, created_by, registration_key)"
                    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (person_id) DO NOTHING RETURNING true",
                    talent_id,
                    person_id,
                    id_masked,
                    name,
                    actor,
                    key,
                )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name != "talents_registration_key_key":
                raise
            raise Invalid(  # the key names another person's registration
                "idempotency_key_reused", "this Idempotency-Key was used for a different request", "Idempotency-Key"
            ) from error
        return bool(inserted)

    async def talent_registered_with(self, key: str, person_id: str) -> UUID | None:
        found: UUID | None = await self.conn.fetchval(
            "SELECT id FROM talents WHERE registration_key = $1 AND person_id = $2", key, person_id
        )
        return found

    async def talent(self, talent_id: UUID) -> Talent | None:
        row = await self.conn.fetchrow(
            "SELECT id, person_id, id_masked, display_name, created_by, created_at, registration_key"
            " FROM talents WHERE id = $1",
            talent_id,
        )
        return Talent(**row) if row else None

    async def add_evidence(self, talent_id: UUID, evidence: Evidence) -> None:
        await self.conn.execute(
            "INSERT INTO evidence (id, talent_id, kind, platform, value, level, detail, status)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            evidence.id,
            talent_id,
            evidence.kind.value,
            evidence.platform,
            evidence.value,
            evidence.level,
            evidence.detail,
            EvidenceStatus.DECLARED.value,
        )

    async def evidence_of(self, talent_id: UUID) -> list[Evidence]:
        rows = await self.conn.fetch(
            "SELECT id, kind, status, value, level, platform, detail FROM evidence WHERE talent_id = $1"
            " ORDER BY created_at, id",
            talent_id,
        )
        return [Evidence(**{**r, "kind": EvidenceKind(r["kind"]), "status": EvidenceStatus(r["status"])}) for r in rows]

    async def decide_evidence(
        self, talent_id: UUID, evidence_id: UUID, status: EvidenceStatus, actor: str, note: str | None
    ) -> bool:
        done = await self.conn.execute(
            "UPDATE evidence SET status = $3, decided_by = $4, decided_at = now(), note = $5"
            " WHERE id = $1 AND talent_id = $2",
            evidence_id,
            talent_id,
            status.value,
            actor,
            note,
        )
        return bool(done.endswith(" 1"))

    # --- determinations and notices ------------------------------------------------------------

    async def record(self, determination: Determination) -> None:
        await self.conn.execute(
            "INSERT INTO determinations (person_id, route, rule_id, rule_version, eligible, evidence, explanation)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            determination.person_id,
            determination.route.value,
            determination.rule_id,
            determination.rule_version,
            determination.eligible,
            list(determination.evidence),
            determination.explanation,
        )

    async def determinations(self, person_id: str) -> list[DeterminationRecord]:
        rows = await self.conn.fetch(
            "SELECT id, person_id, route, rule_id, rule_version, eligible, evidence, explanation, at"
            " FROM determinations WHERE person_id = $1 ORDER BY id",
            person_id,
        )
        return [DeterminationRecord(**{**r, "route": EligibilityRoute(r["route"])}) for r in rows]

    async def open_notice(self, notice_id: UUID, determination: Determination, id_masked: str | None) -> bool:
        inserted = await self.conn.fetchval(
            "INSERT INTO notices (id, person_id, route, rule_id, rule_version, evidence, id_masked, status)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (person_id) DO NOTHING RETURNING true",
            notice_id,
            determination.person_id,
            determination.route.value,
            determination.rule_id,
            determination.rule_version,
            list(determination.evidence),
            id_masked,
            NoticeStatus.WAITING.value,
        )
        return bool(inserted)

    async def notice(self, notice_id: UUID, lock: bool = False) -> Notice | None:
        row = await self.conn.fetchrow(
            f"SELECT {NOTICE_COLUMNS} FROM notices WHERE id = $1" + (" FOR UPDATE" if lock else ""), notice_id
        )
        return _notice(row) if row else None

    async def notices(self, which: NoticeFilter, limit: int, offset: int) -> list[Notice]:
        rows = await self.conn.fetch(
            f"SELECT {NOTICE_COLUMNS} FROM notices WHERE ($1::text IS NULL OR status = $1)"
            " AND ($2::text IS NULL OR route = $2)"
            " AND ($3::date IS NULL OR created_at::date >= $3) AND ($4::date IS NULL OR created_at::date <= $4)"
            " ORDER BY created_at, id LIMIT $5 OFFSET $6",
            which.status,
            which.route,
            which.created_from,
            which.created_to,
            limit,
            offset,
        )
        return [_notice(r) for r in rows]

    async def notice_counts(self) -> list[NoticeCount]:
        rows = await self.conn.fetch("SELECT route, status, count(*) AS count FROM notices GROUP BY 1, 2 ORDER BY 1, 2")
        return [NoticeCount(EligibilityRoute(r["route"]), NoticeStatus(r["status"]), r["count"]) for r in rows]

    async def acknowledge(self, notice_id: UUID, actor: str) -> None:
        await self.conn.execute(
            "UPDATE notices SET status = $3, acknowledged_by = $2, acknowledged_at = now() WHERE id = $1",
            notice_id,
            actor,
            NoticeStatus.ACKNOWLEDGED.value,
        )

    async def decide(
        self, notice_id: UUID, status: NoticeStatus, actor: str, card_number: str | None, reason: str | None
    ) -> None:
        try:
            async with self.conn.transaction():  # a savepoint: a refusal leaves the unit of work usable
                await self.conn.execute(
                    "UPDATE notices SET status = $2, decided_by = $3, decided_at = now(), card_number = $4,"
                    " decline_reason = $5 WHERE id = $1",
                    notice_id,
                    status.value,
                    actor,
                    card_number,
                    reason,
                )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name != "notices_card_number_key":
                raise
            raise Conflict("card_number_in_use", f"card {card_number} was issued already", "card_number") from error

    async def record_reads(self, actor: str, route: str, people: Iterable[str]) -> None:
        await read_audit.record_reads(self.conn, actor, route, people)


NOTICE_COLUMNS = (
    "id, person_id, route, rule_id, rule_version, evidence, id_masked, status, card_number, decline_reason,"
    " created_at, acknowledged_by, acknowledged_at, decided_by, decided_at"
)


def _notice(row: Any) -> Notice:
    return Notice(**{**row, "route": EligibilityRoute(row["route"]), "status": NoticeStatus(row["status"])})
