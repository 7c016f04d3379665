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

    async def _each(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """`sql` on its parameters as arrays (one statement for the whole run). Rows sharing their key (the first
        value) go one statement each, in order: one statement cannot upsert a row twice."""
        if len({row[0] for row in rows}) == len(rows):
            await self.conn.execute(sql, *(list(column) for column in zip(*rows, strict=True)))
        else:
            for row in rows:
                await self.conn.execute(sql, *([value] for value in row))

    async def enrolled(self, events: list[TraineeEnrolled]) -> None:
        await self._each(
            """INSERT INTO enrolments (enrollment_id, institution_id, tier, target_group, starts_on)
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::date[])
               ON CONFLICT (enrollment_id) DO UPDATE
                   SET target_group = EXCLUDED.target_group, starts_on = EXCLUDED.starts_on""",
            [(e.enrollment_id, e.institution_id, e.tier.value, e.target_group.value, e.starts_on) for e in events],
        )

    async def completed(self, events: list[TierCompleted]) -> None:
        await self._each(
            """INSERT INTO enrolments (enrollment_id, institution_id, tier, target_group, status, completed_on,
                                      outcome)
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::date[],
                                    $7::text[])
               ON CONFLICT (enrollment_id) DO UPDATE
                   SET status = EXCLUDED.status, completed_on = EXCLUDED.completed_on,
                       outcome = CASE WHEN enrolments.outcome_at IS NULL THEN EXCLUDED.outcome
                                      ELSE enrolments.outcome END,
                       target_group = coalesce(enrolments.target_group, EXCLUDED.target_group), changed_at = now()""",
            [
                (e.enrollment_id, e.institution_id, e.tier.value, e.target_group.value,
                 "passed" if e.passed else "failed", e.completed_on, e.outcome.value if e.outcome else None)
                for e in events
            ],
        )  # fmt: skip

    async def outcome(self, events: list[OutcomeReported]) -> None:
        """The latest report wins; a report read before its completion is kept (the completion does not undo it)."""
        await self._each(
            """INSERT INTO enrolments (enrollment_id, institution_id, tier, outcome, outcome_at)
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])
               ON CONFLICT (enrollment_id) DO UPDATE SET outcome = EXCLUDED.outcome, outcome_at = EXCLUDED.outcome_at,
                                                       changed_at = now()
                   WHERE enrolments.outcome_at IS NULL OR enrolments.outcome_at <= EXCLUDED.outcome_at""",
            [(e.enrollment_id, e.institution_id, e.tier.value, e.outcome.value, e.occurred_at) for e in events],
        )

    async def withdrawn(self, events: list[EnrollmentWithdrawn]) -> None:
        await self._each(
            """INSERT INTO enrolments (enrollment_id, institution_id, tier, status)
               SELECT *, 'withdrawn' FROM unnest($1::uuid[], $2::uuid[], $3::text[])
               ON CONFLICT (enrollment_id) DO UPDATE SET status = 'withdrawn', changed_at = now()
                   WHERE enrolments.status = 'open'""",
            [(e.enrollment_id, e.institution_id, e.tier.value) for e in events],
        )

    async def standing(self, events: list[InstitutionSuspended | InstitutionReinstated]) -> None:
        await self._each(
            """INSERT INTO institution_standing
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::timestamptz[])
               ON CONFLICT (institution_id) DO UPDATE
                   SET status = EXCLUDED.status, status_seq = EXCLUDED.status_seq, reason = EXCLUDED.reason,
                       changed_at = EXCLUDED.changed_at
                   WHERE institution_standing.status_seq < EXCLUDED.status_seq""",
            [
                (e.institution_id, "suspended" if isinstance(e, InstitutionSuspended) else "active", e.status_seq,
                 e.reason, e.occurred_at)
                for e in events
            ],
        )  # fmt: skip

    async def decided(self, events: list[SubsidyApproved | SubsidyRejected]) -> None:
        await self._each(
            """INSERT INTO decisions (enrollment_id, subsidy_id, institution_id, tier, status, amount_yuan, reason,
                                      policy_version, decided_at)
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bigint[],
                                    $7::text[], $8::text[], $9::timestamptz[])
               ON CONFLICT (enrollment_id) DO UPDATE
                   SET subsidy_id = EXCLUDED.subsidy_id, status = EXCLUDED.status,
                       amount_yuan = EXCLUDED.amount_yuan, reason = EXCLUDED.reason,
                       policy_version = EXCLUDED.policy_version, decided_at = EXCLUDED.decided_at
                   WHERE decisions.decided_at <= EXCLUDED.decided_at AND decisions.status <> 'approved'""",
            [
                (e.enrollment_id, e.subsidy_id, e.institution_id, e.tier.value, "approved", e.amount_yuan, None,
                 e.policy_version, e.occurred_at)
                if isinstance(e, SubsidyApproved)
                else (e.enrollment_id, None, e.institution_id, e.tier.value, "rejected", 0, e.reason.value,
                      e.policy_version, e.occurred_at)
                for e in events
            ],
        )  # fmt: skip

    async def reversed(self, events: list[SubsidyReversed]) -> None:
        await self._each(
            """INSERT INTO reversals
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[])
               ON CONFLICT (subsidy_id) DO NOTHING""",
            [(e.subsidy_id, e.institution_id, e.tier.value, e.amount_yuan, e.reason, e.occurred_at) for e in events],
        )

    async def noticed(self, events: list[GreenCardEligible]) -> None:
        await self._each(
            """INSERT INTO notices SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
               ON CONFLICT (notice_id) DO NOTHING""",
            [(e.notice_id, e.route.value, e.rule_id, e.occurred_at) for e in events],
        )

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
