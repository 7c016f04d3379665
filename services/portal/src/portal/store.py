"""Every SQL statement of the `portal` schema: the read model's upserts and queries, sessions, uploads."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from plan_events import (
    EnrollmentWithdrawn,
    Event,
    GreenCardEligible,
    InstitutionReinstated,
    InstitutionSuspended,
    OutcomeReported,
    SubsidyApproved,
    SubsidyRejected,
    SubsidyReversed,
    TierCompleted,
    TraineeEnrolled,
)
from plan_runtime.db import Connection
from plan_runtime.unit import Unit


@dataclass(frozen=True)
class Session:
    role: str  # bureau | finance | talent_office | institution
    institution_id: UUID | None
    institution_name: str | None
    key_sealed: bytes
    csrf: str
    expires_at: datetime


class PortalStore(Unit):
    def __init__(self, conn: Connection, published: list[Event] | None = None) -> None:
        super().__init__(conn, published)
        self._bumped = False

    # --- the projection (written by portal.projection only) -------------------------------------------------

    async def bump_version(self) -> None:
        if not self._bumped:
            await self.conn.execute("UPDATE read_model_version SET version = version + 1, changed_at = now() WHERE id")
            self._bumped = True

    async def enrolled(self, e: TraineeEnrolled) -> None:
        await self.conn.execute(
            """INSERT INTO enrolments (enrollment_id, institution_id, tier, target_group, starts_on)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (enrollment_id) DO UPDATE
                   SET target_group = EXCLUDED.target_group, starts_on = EXCLUDED.starts_on""",
            e.enrollment_id, e.institution_id, e.tier.value, e.target_group.value, e.starts_on,
        )  # fmt: skip

    async def completed(self, e: TierCompleted) -> None:
        await self.conn.execute(
            """INSERT INTO enrolments (enrollment_id, institution_id, tier, target_group, status, completed_on,
                                      outcome)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (enrollment_id) DO UPDATE
                   SET status = EXCLUDED.status, completed_on = EXCLUDED.completed_on,
                       outcome = CASE WHEN enrolments.outcome_at IS NULL THEN EXCLUDED.outcome
                                      ELSE enrolments.outcome END,
                       target_group = coalesce(enrolments.target_group, EXCLUDED.target_group), changed_at = now()""",
            e.enrollment_id, e.institution_id, e.tier.value, e.target_group.value,
            "passed" if e.passed else "failed", e.completed_on, e.outcome.value if e.outcome else None,
        )  # fmt: skip

    async def outcome(self, e: OutcomeReported) -> None:
        """The latest report wins; a report read before its completion is kept (the completion does not undo it)."""
        await self.conn.execute(
            """INSERT INTO enrolments (enrollment_id, institution_id, tier, outcome, outcome_at)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (enrollment_id) DO UPDATE SET outcome = EXCLUDED.outcome, outcome_at = EXCLUDED.outcome_at,
                                                       changed_at = now()
                   WHERE enrolments.outcome_at IS NULL OR enrolments.outcome_at <= EXCLUDED.outcome_at""",
            e.enrollment_id, e.institution_id, e.tier.value, e.outcome.value, e.occurred_at,
        )  # fmt: skip

    async def withdrawn(self, e: EnrollmentWithdrawn) -> None:
        await self.conn.execute(
            """INSERT INTO enrolments (enrollment_id, institution_id, tier, status) VALUES ($1, $2, $3, 'withdrawn')
               ON CONFLICT (enrollment_id) DO UPDATE SET status = 'withdrawn', changed_at = now()
                   WHERE enrolments.status = 'open'""",
            e.enrollment_id, e.institution_id, e.tier.value,
        )  # fmt: skip

    async def standing(self, e: InstitutionSuspended | InstitutionReinstated) -> None:
        status = "suspended" if isinstance(e, InstitutionSuspended) else "active"
        await self.conn.execute(
            """INSERT INTO institution_standing VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (institution_id) DO UPDATE
                   SET status = EXCLUDED.status, status_seq = EXCLUDED.status_seq, reason = EXCLUDED.reason,
                       changed_at = EXCLUDED.changed_at
                   WHERE institution_standing.status_seq < EXCLUDED.status_seq""",
            e.institution_id, status, e.status_seq, e.reason, e.occurred_at,
        )  # fmt: skip

    async def decided(self, e: SubsidyApproved | SubsidyRejected) -> None:
        approved = isinstance(e, SubsidyApproved)
        await self.conn.execute(
            """INSERT INTO decisions (enrollment_id, subsidy_id, institution_id, tier, status, amount_yuan, reason,
                                      policy_version, decided_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (enrollment_id) DO UPDATE
                   SET subsidy_id = EXCLUDED.subsidy_id, status = EXCLUDED.status,
                       amount_yuan = EXCLUDED.amount_yuan, reason = EXCLUDED.reason,
                       policy_version = EXCLUDED.policy_version, decided_at = EXCLUDED.decided_at
                   WHERE decisions.decided_at <= EXCLUDED.decided_at AND decisions.status <> 'approved'""",
            e.enrollment_id, e.subsidy_id if isinstance(e, SubsidyApproved) else None, e.institution_id,
            e.tier.value, "approved" if approved else "rejected",
            e.amount_yuan if isinstance(e, SubsidyApproved) else 0,
            None if isinstance(e, SubsidyApproved) else e.reason.value, e.policy_version, e.occurred_at,
        )  # fmt: skip

    async def reversed(self, e: SubsidyReversed) -> None:
        await self.conn.execute(
            "INSERT INTO reversals VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (subsidy_id) DO NOTHING",
            e.subsidy_id, e.institution_id, e.tier.value, e.amount_yuan, e.reason, e.occurred_at,
        )  # fmt: skip

    async def noticed(self, e: GreenCardEligible) -> None:
        await self.conn.execute(
            "INSERT INTO notices VALUES ($1, $2, $3, $4) ON CONFLICT (notice_id) DO NOTHING",
            e.notice_id, e.route.value, e.rule_id, e.occurred_at,
        )  # fmt: skip

    # --- read model queries shared by the pages -------------------------------------------------------------

    async def version(self) -> int:
        return int(await self.conn.fetchval("SELECT version FROM read_model_version"))

    async def counts(self, by: str | None = None, institution_id: UUID | None = None) -> list[dict[str, Any]]:
        """Enrolments counted as enrollment's /progress counts them, by tier and optionally one more column:
        `target_group`, `institution_id`, `start_month` or `completion_month` (first day of the month)."""
        column = {
            None: "NULL::text",
            "target_group": "target_group",
            "institution_id": "institution_id::text",
            "start_month": "date_trunc('month', starts_on)::date::text",
            "completion_month": "date_trunc('month', completed_on)::date::text",
        }[by]
        rows = await self.conn.fetch(
            f"""SELECT tier, {column} AS key,
                       count(*) AS enrolled,
                       count(*) FILTER (WHERE status = 'open') AS open,
                       count(*) FILTER (WHERE status = 'passed') AS completed,
                       count(*) FILTER (WHERE status = 'failed') AS failed,
                       count(*) FILTER (WHERE status = 'withdrawn') AS withdrawn,
                       count(*) FILTER (WHERE status = 'passed' AND outcome = 'employed') AS employed,
                       count(*) FILTER (WHERE status = 'passed' AND outcome = 'own_business') AS own_business
                FROM enrolments
                WHERE ($1::uuid IS NULL OR institution_id = $1)
                GROUP BY tier, key ORDER BY key NULLS FIRST, tier""",
            institution_id,
        )
        return [dict(r) for r in rows]

    async def decisions_summary(self, institution_id: UUID | None = None) -> list[dict[str, Any]]:
        """Decisions by tier and status (a rejection by its reason), with yuan; reversals as their own status."""
        rows = await self.conn.fetch(
            """SELECT tier, status, coalesce(reason, '') AS reason, count(*) AS count, sum(amount_yuan) AS yuan
               FROM decisions WHERE ($1::uuid IS NULL OR institution_id = $1) GROUP BY tier, status, reason
               UNION ALL
               SELECT tier, 'reversed', '', count(*), sum(amount_yuan)
               FROM reversals WHERE ($1::uuid IS NULL OR institution_id = $1) GROUP BY tier
               ORDER BY 1, 2, 3""",
            institution_id,
        )
        return [dict(r) for r in rows]

    async def approvals_by_day(self) -> list[dict[str, Any]]:
        """Yuan approved and reversed per day (the decision's time, Asia/Shanghai), for the fund's burn-down."""
        rows = await self.conn.fetch(
            """SELECT day, sum(approved) AS approved, sum(reversed) AS reversed FROM (
                   SELECT (decided_at AT TIME ZONE 'Asia/Shanghai')::date AS day, amount_yuan AS approved,
                          0 AS reversed FROM decisions WHERE status = 'approved'
                   UNION ALL
                   SELECT (reversed_at AT TIME ZONE 'Asia/Shanghai')::date, 0, amount_yuan FROM reversals
               ) t GROUP BY day ORDER BY day"""
        )
        return [dict(r) for r in rows]

    async def institution_decisions(
        self, institution_id: UUID, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """One institution's decisions, newest first; a reversed approval says so."""
        rows = await self.conn.fetch(
            """SELECT d.enrollment_id, d.subsidy_id, d.tier, d.status, d.amount_yuan, d.reason, d.policy_version,
                      d.decided_at, r.reversed_at, r.reason AS reversal_reason
               FROM decisions d LEFT JOIN reversals r ON r.subsidy_id = d.subsidy_id
               WHERE d.institution_id = $1 AND ($2::text IS NULL OR d.status = $2)
               ORDER BY d.decided_at DESC, d.enrollment_id LIMIT $3 OFFSET $4""",
            institution_id, status, limit, offset,
        )  # fmt: skip
        return [dict(r) for r in rows]

    async def standings(self) -> dict[UUID, dict[str, Any]]:
        rows = await self.conn.fetch("SELECT * FROM institution_standing")
        return {r["institution_id"]: dict(r) for r in rows}

    async def notices_by_route(self) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            """SELECT route, date_trunc('month', announced_at AT TIME ZONE 'Asia/Shanghai')::date AS month,
                      count(*) AS count FROM notices GROUP BY route, month ORDER BY month, route"""
        )
        return [dict(r) for r in rows]

    # --- bureau pages' queries (add below) ------------------------------------------------------------------

    async def bureau_latest_day(self) -> date | None:
        """The latest activity date in the data (a course start or completion): the simulated plan's "now"."""
        day: date | None = await self.conn.fetchval(
            "SELECT greatest(max(starts_on), max(completed_on)) FROM enrolments"
        )
        return day

    async def bureau_as_of(self, first_day: date, last_day: date) -> list[dict[str, Any]]:
        """For the monthly report: counts by tier, target group and institution, cumulative up to `last_day`
        (as enrollment's /progress counts them: a start by its day, a passed course by its completion day) and
        within the month `first_day`..`last_day`; `completed_this_year` from 1 January of `last_day`'s year."""
        rows = await self.conn.fetch(
            """SELECT tier, coalesce(target_group, 'unknown') AS target_group, institution_id,
                      count(*) FILTER (WHERE starts_on <= $2) AS enrolled,
                      count(*) FILTER (WHERE status = 'passed' AND completed_on <= $2) AS completed,
                      count(*) FILTER (WHERE status = 'passed' AND completed_on <= $2
                                         AND outcome = 'employed') AS employed,
                      count(*) FILTER (WHERE status = 'passed' AND completed_on <= $2
                                         AND outcome = 'own_business') AS own_business,
                      count(*) FILTER (WHERE status = 'passed' AND completed_on <= $2
                                         AND completed_on >= date_trunc('year', $2::date)::date) AS completed_this_year,
                      count(*) FILTER (WHERE starts_on BETWEEN $1 AND $2) AS enrolled_in_month,
                      count(*) FILTER (WHERE status = 'passed'
                                         AND completed_on BETWEEN $1 AND $2) AS completed_in_month,
                      count(*) FILTER (WHERE status = 'passed' AND completed_on BETWEEN $1 AND $2
                                         AND outcome = 'employed') AS employed_in_month,
                      count(*) FILTER (WHERE status = 'passed' AND completed_on BETWEEN $1 AND $2
                                         AND outcome = 'own_business') AS own_business_in_month
               FROM enrolments GROUP BY tier, target_group, institution_id""",
            first_day, last_day,
        )  # fmt: skip
        return [dict(r) for r in rows]

    # --- finance pages' queries (add below) -----------------------------------------------------------------

    async def approvals_by_completion_day(self) -> list[dict[str, Any]]:
        """Yuan approved and reversed per completion day (the day the fund's burn rate counts by), so the burn-down
        shares its time axis with funding's projected exhaustion; a decision whose completion is not read yet
        counts on its decision day."""
        rows = await self.conn.fetch(
            """SELECT day, sum(approved)::bigint AS approved, sum(reversed)::bigint AS reversed FROM (
                   SELECT coalesce(e.completed_on, (d.decided_at AT TIME ZONE 'Asia/Shanghai')::date) AS day,
                          d.amount_yuan AS approved, 0 AS reversed
                   FROM decisions d LEFT JOIN enrolments e ON e.enrollment_id = d.enrollment_id
                   WHERE d.status = 'approved'
                   UNION ALL
                   SELECT coalesce(e.completed_on, (r.reversed_at AT TIME ZONE 'Asia/Shanghai')::date), 0,
                          r.amount_yuan
                   FROM reversals r LEFT JOIN decisions d ON d.subsidy_id = r.subsidy_id
                        LEFT JOIN enrolments e ON e.enrollment_id = d.enrollment_id
               ) t GROUP BY day ORDER BY day"""
        )
        return [dict(r) for r in rows]

    async def decided_institutions(self) -> list[dict[str, Any]]:
        """Institutions with a subsidy decision, most decisions first (the subsidies page's filter)."""
        rows = await self.conn.fetch(
            """SELECT institution_id, count(*) AS decisions FROM decisions
               GROUP BY institution_id ORDER BY decisions DESC, institution_id"""
        )
        return [dict(r) for r in rows]

    async def record_batch(self, batch_id: UUID, institution_id: UUID) -> None:
        await self.conn.execute(
            "INSERT INTO finance_batches (batch_id, institution_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            batch_id, institution_id,
        )  # fmt: skip

    async def recorded_batches(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT batch_id, institution_id, created_at FROM finance_batches ORDER BY created_at DESC LIMIT $1",
            limit,
        )
        return [dict(r) for r in rows]

    # --- talent office pages' queries (add below) -----------------------------------------------------------

    async def record_talent(self, talent_id: UUID) -> None:
        await self.conn.execute(
            "INSERT INTO talent_registrations (talent_id) VALUES ($1) ON CONFLICT DO NOTHING", talent_id
        )

    async def recorded_talents(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT talent_id, created_at FROM talent_registrations ORDER BY created_at DESC LIMIT $1", limit
        )
        return [dict(r) for r in rows]

    # --- institution pages' queries (add below) -------------------------------------------------------------

    async def institution_decision_count(self, institution_id: UUID, status: str | None) -> int:
        found = await self.conn.fetchval(
            "SELECT count(*) FROM decisions WHERE institution_id = $1 AND ($2::text IS NULL OR status = $2)",
            institution_id, status,
        )  # fmt: skip
        return int(found)

    async def save_upload(
        self, upload_id: UUID, institution_id: UUID, kind: str, file_name: str, summary: dict[str, Any]
    ) -> None:
        await self.conn.execute(
            "INSERT INTO uploads (upload_id, institution_id, kind, file_name, summary) VALUES ($1, $2, $3, $4, $5)",
            upload_id, institution_id, kind, file_name, summary,
        )  # fmt: skip

    async def upload(self, upload_id: UUID, institution_id: UUID) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM uploads WHERE upload_id = $1 AND institution_id = $2", upload_id, institution_id
        )
        return None if row is None else dict(row)

    async def uploads(self, institution_id: UUID, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            """SELECT upload_id, kind, file_name, created_at, summary->'accepted' AS accepted,
                      summary->'refused' AS refused
               FROM uploads WHERE institution_id = $1 ORDER BY created_at DESC LIMIT $2""",
            institution_id, limit,
        )  # fmt: skip
        return [dict(r) for r in rows]

    # --- public page's queries (add below) ------------------------------------------------------------------

    async def last_changed(self) -> datetime:
        """When the read model last moved (the open-data page's "last updated")."""
        return await self.conn.fetchval("SELECT changed_at FROM read_model_version")  # type: ignore[no-any-return]

    # --- sessions -------------------------------------------------------------------------------------------

    async def open_session(
        self, token_hash: bytes, role: str, institution: tuple[UUID, str] | None, key_sealed: bytes, csrf: str,
        expires_at: datetime,
    ) -> None:  # fmt: skip
        await self.conn.execute("DELETE FROM sessions WHERE expires_at < now()")
        await self.conn.execute(
            """INSERT INTO sessions (token_hash, role, institution_id, institution_name, key_sealed, csrf,
                                     expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            token_hash, role, institution[0] if institution else None, institution[1] if institution else None,
            key_sealed, csrf, expires_at,
        )  # fmt: skip

    async def session(self, token_hash: bytes) -> Session | None:
        row = await self.conn.fetchrow(
            """SELECT role, institution_id, institution_name, key_sealed, csrf, expires_at FROM sessions
               WHERE token_hash = $1 AND expires_at > now()""",
            token_hash,
        )
        return None if row is None else Session(**dict(row))

    async def close_session(self, token_hash: bytes) -> None:
        await self.conn.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)


def month_start(day: date) -> date:
    return day.replace(day=1)
