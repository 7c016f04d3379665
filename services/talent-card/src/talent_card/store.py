"""All SQL of the `talent_card` schema. Methods run on the caller's connection and transaction."""

from datetime import date
from typing import Any
from uuid import UUID

from plan_runtime import Connection
from talent_card.domain import Determination, Evidence, EvidenceKind, PlanProgress


class TalentCardStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- plan route ------------------------------------------------------------------------------

    async def senior_completed(self, person_id: str, completed_on: date) -> PlanProgress:
        return await self._progress(
            "INSERT INTO plan_progress (person_id, senior_completed_on) VALUES ($1, $2) ON CONFLICT (person_id)"
            " DO UPDATE SET senior_completed_on = EXCLUDED.senior_completed_on RETURNING *",
            person_id,
            completed_on,
        )

    async def senior_subsidy_approved(self, person_id: str, subsidy_id: UUID) -> PlanProgress:
        """An approval counts unless that very subsidy was already reported reversed (topics are separate)."""
        return await self._progress(
            "INSERT INTO plan_progress (person_id, senior_subsidy_id) VALUES ($1, $2) ON CONFLICT (person_id)"
            " DO UPDATE SET senior_subsidy_id = CASE"
            " WHEN plan_progress.reversed_subsidy_id = EXCLUDED.senior_subsidy_id THEN plan_progress.senior_subsidy_id"
            " ELSE EXCLUDED.senior_subsidy_id END RETURNING *",
            person_id,
            subsidy_id,
        )

    async def senior_subsidy_reversed(self, person_id: str, subsidy_id: UUID) -> PlanProgress:
        return await self._progress(
            "INSERT INTO plan_progress (person_id, reversed_subsidy_id) VALUES ($1, $2) ON CONFLICT (person_id)"
            " DO UPDATE SET reversed_subsidy_id = EXCLUDED.reversed_subsidy_id, senior_subsidy_id = CASE"
            " WHEN plan_progress.senior_subsidy_id = EXCLUDED.reversed_subsidy_id THEN NULL"
            " ELSE plan_progress.senior_subsidy_id END RETURNING *",
            person_id,
            subsidy_id,
        )

    async def _progress(self, sql: str, *args: Any) -> PlanProgress:
        row = await self.conn.fetchrow(sql, *args)
        assert row is not None
        return PlanProgress(row["person_id"], row["senior_completed_on"], row["senior_subsidy_id"])

    # --- introduced route ----------------------------------------------------------------------

    async def add_talent(
        self, talent_id: UUID, person_id: str, id_masked: str, name: str, actor: str, key: str | None = None
    ) -> bool:
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
        return bool(inserted)

    async def talent_registered_with(self, key: str, person_id: str) -> UUID | None:
        """The talent a registration with this Idempotency-Key created for this person, if any."""
        found: UUID | None = await self.conn.fetchval(
            "SELECT id FROM talents WHERE registration_key = $1 AND person_id = $2", key, person_id
        )
        return found

    async def talent(self, talent_id: UUID) -> dict[str, Any] | None:
        row = await self.conn.fetchrow("SELECT * FROM talents WHERE id = $1", talent_id)
        return dict(row) if row else None

    async def add_evidence(self, talent_id: UUID, evidence: Evidence) -> None:
        await self.conn.execute(
            "INSERT INTO evidence (id, talent_id, kind, platform, value, level, detail, status)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, 'declared')",
            evidence.id,
            talent_id,
            evidence.kind.value,
            evidence.platform,
            evidence.value,
            evidence.level,
            evidence.detail,
        )

    async def evidence_of(self, talent_id: UUID) -> list[Evidence]:
        rows = await self.conn.fetch("SELECT * FROM evidence WHERE talent_id = $1 ORDER BY created_at, id", talent_id)
        return [
            Evidence(r["id"], EvidenceKind(r["kind"]), r["status"], r["value"], r["level"], r["platform"], r["detail"])
            for r in rows
        ]

    async def decide_evidence(
        self, talent_id: UUID, evidence_id: UUID, status: str, actor: str, note: str | None
    ) -> bool:
        done = await self.conn.execute(
            "UPDATE evidence SET status = $3, decided_by = $4, decided_at = now(), note = $5"
            " WHERE id = $1 AND talent_id = $2",
            evidence_id,
            talent_id,
            status,
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

    async def determinations(self, person_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch("SELECT * FROM determinations WHERE person_id = $1 ORDER BY id", person_id)
        return [dict(r) for r in rows]

    async def open_notice(self, notice_id: UUID, determination: Determination, id_masked: str | None) -> bool:
        """False when the person already has a notice (by either route): eligible once."""
        inserted = await self.conn.fetchval(
            "INSERT INTO notices (id, person_id, route, rule_id, rule_version, evidence, id_masked, status)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, 'waiting') ON CONFLICT (person_id) DO NOTHING RETURNING true",
            notice_id,
            determination.person_id,
            determination.route.value,
            determination.rule_id,
            determination.rule_version,
            list(determination.evidence),
            id_masked,
        )
        return bool(inserted)

    async def notice(self, notice_id: UUID, lock: bool = False) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM notices WHERE id = $1" + (" FOR UPDATE" if lock else ""), notice_id
        )
        return dict(row) if row else None

    async def notices(
        self,
        status: str | None,
        route: str | None,
        created_from: date | None,
        created_to: date | None,
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT * FROM notices WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR route = $2)"
            " AND ($3::date IS NULL OR created_at::date >= $3) AND ($4::date IS NULL OR created_at::date <= $4)"
            " ORDER BY created_at, id LIMIT $5 OFFSET $6",
            status,
            route,
            created_from,
            created_to,
            limit,
            offset,
        )
        return [dict(r) for r in rows]

    async def notice_counts(self) -> list[dict[str, Any]]:
        rows = await self.conn.fetch("SELECT route, status, count(*) AS count FROM notices GROUP BY 1, 2 ORDER BY 1, 2")
        return [dict(r) for r in rows]

    async def acknowledge(self, notice_id: UUID, actor: str) -> None:
        await self.conn.execute(
            "UPDATE notices SET status = 'acknowledged', acknowledged_by = $2, acknowledged_at = now() WHERE id = $1",
            notice_id,
            actor,
        )

    async def decide(
        self, notice_id: UUID, status: str, actor: str, card_number: str | None, reason: str | None
    ) -> None:
        await self.conn.execute(
            "UPDATE notices SET status = $2, decided_by = $3, decided_at = now(), card_number = $4,"
            " decline_reason = $5 WHERE id = $1",
            notice_id,
            status,
            actor,
            card_number,
            reason,
        )
