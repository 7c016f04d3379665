"""All SQL of the `enrollment` schema. Methods run on the caller's connection and transaction."""

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

from enrollment.domain import History
from plan_events import Tier
from plan_runtime import Connection


class EnrollmentStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- institutions and keys -----------------------------------------------------------------

    async def add_institution(self, institution_id: UUID, name: str, mode: str) -> None:
        await self.conn.execute(
            "INSERT INTO institutions (id, name, mode, status) VALUES ($1, $2, $3, 'active')",
            institution_id,
            name,
            mode,
        )

    async def institution(self, institution_id: UUID, lock: str = "") -> dict[str, Any] | None:
        """`lock`: "" (none), "SHARE" (a completion: a status change waits for it) or "UPDATE"."""
        assert lock in ("", "SHARE", "UPDATE")
        row = await self.conn.fetchrow(
            "SELECT * FROM institutions WHERE id = $1" + (f" FOR {lock}" if lock else ""), institution_id
        )
        return dict(row) if row else None

    async def institutions(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.conn.fetch("SELECT * FROM institutions ORDER BY name")]

    async def set_status(self, institution_id: UUID, status: str) -> int:
        """The institution's new status; returns its sequence number (one more than the last change's)."""
        seq: int = await self.conn.fetchval(
            "UPDATE institutions SET status = $2, status_seq = status_seq + 1 WHERE id = $1 RETURNING status_seq",
            institution_id,
            status,
        )
        return seq

    async def add_key(self, key_id: UUID, institution_id: UUID, secret_sha256: str) -> None:
        await self.conn.execute(
            "INSERT INTO api_keys (id, institution_id, secret_sha256) VALUES ($1, $2, $3)",
            key_id,
            institution_id,
            secret_sha256,
        )

    async def key(self, key_id: UUID) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(
            "SELECT k.institution_id, k.secret_sha256, i.status FROM api_keys k"
            " JOIN institutions i ON i.id = k.institution_id WHERE k.id = $1 AND k.revoked_at IS NULL",
            key_id,
        )
        return dict(row) if row else None

    async def revoke_key(self, institution_id: UUID, key_id: UUID) -> bool:
        done = await self.conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND institution_id = $2 AND revoked_at IS NULL",
            key_id,
            institution_id,
        )
        return bool(done.endswith(" 1"))

    async def audit(self, actor: str, action: str, subject: str, reason: str | None = None) -> None:
        await self.conn.execute(
            "INSERT INTO audit_log (actor, action, subject, reason) VALUES ($1, $2, $3, $4)",
            actor,
            action,
            subject,
            reason,
        )

    async def audit_many(self, rows: Sequence[tuple[str, str, str, str | None]]) -> None:
        """(actor, action, subject, reason) for each entry, in one round trip."""
        if rows:
            await self.conn.copy_records_to_table(
                "audit_log", records=rows, columns=["actor", "action", "subject", "reason"]
            )

    async def audit_entries(self, action: str, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT * FROM audit_log WHERE action = $1 ORDER BY id DESC LIMIT $2 OFFSET $3", action, limit, offset
        )
        return [dict(r) for r in rows]

    async def count_intake(self, institution_id: UUID, day: date, rows: int, refused: int) -> None:
        await self.conn.execute(
            """INSERT INTO daily_intake (institution_id, day, rows, refused) VALUES ($1, $2, $3, $4)
               ON CONFLICT (institution_id, day) DO UPDATE
               SET rows = daily_intake.rows + EXCLUDED.rows, refused = daily_intake.refused + EXCLUDED.refused""",
            institution_id,
            day,
            rows,
            refused,
        )

    async def flagged(self, share: float, min_rows: int, since: date) -> list[dict[str, Any]]:
        """Institution-days whose refused share of rows is over `share`, out of at least `min_rows` rows."""
        rows = await self.conn.fetch(
            """SELECT d.institution_id, i.name, i.status, d.day, d.rows, d.refused,
                      round(d.refused::numeric / d.rows, 4)::float8 AS refused_share
               FROM daily_intake d JOIN institutions i ON i.id = d.institution_id
               WHERE d.day >= $3 AND d.rows >= $2 AND d.refused > d.rows * $1::float8
               ORDER BY d.day DESC, refused_share DESC, i.name""",
            share,
            min_rows,
            since,
        )
        return [dict(r) for r in rows]

    async def legacy_identities(self, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT * FROM legacy_identities ORDER BY created_at, trainee_id LIMIT $1 OFFSET $2", limit, offset
        )
        return [dict(r) for r in rows]

    # --- trainees and enrolments ---------------------------------------------------------------

    async def histories(self, trainee_ids: Sequence[str]) -> dict[str, History]:
        rows = await self.conn.fetch(
            # a join on unnest, not `= ANY($1)`: its plan stays an index lookup per person at any cohort size
            "SELECT e.trainee_id, e.tier, e.institution_id, e.status, e.passed"
            " FROM unnest($1::text[]) AS p(trainee_id) JOIN enrollments e USING (trainee_id)"
            " WHERE e.status = 'open' OR (e.status = 'completed' AND e.passed)",
            list(set(trainee_ids)),
        )
        found: dict[str, History] = {t: History() for t in trainee_ids}
        for row in rows:
            history = found[row["trainee_id"]]
            if row["status"] == "open":
                history.open[Tier(row["tier"])] = row["institution_id"]
            else:
                history.passed.add(Tier(row["tier"]))
        return found

    async def add_trainees(self, rows: Sequence[tuple[str, str, str, str, str, date]]) -> None:
        """(trainee_id, id_hash, id_masked, name, phone, birth_date); a known person keeps their first record."""
        if rows:
            columns = list(zip(*rows, strict=True))
            await self.conn.execute(
                """INSERT INTO trainees (trainee_id, id_hash, id_masked, name, phone, birth_date)
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[])
                   ON CONFLICT DO NOTHING""",
                *map(list, columns),
            )

    async def add_enrollments(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """(id, trainee_id, institution_id, tier, target_group, mode, starts_on, niche, policy_version)"""
        if rows:
            await self.conn.copy_records_to_table(
                "enrollments",
                records=[(*r[:8], "open", r[8]) for r in rows],
                columns=[
                    "id",
                    "trainee_id",
                    "institution_id",
                    "tier",
                    "target_group",
                    "mode",
                    "starts_on",
                    "niche",
                    "status",
                    "policy_version",
                ],
            )

    async def enrollment(self, enrollment_id: UUID, institution_id: UUID, lock: bool = False) -> dict[str, Any] | None:
        """Only the institution's own enrolments: another's is simply not found."""
        row = await self.conn.fetchrow(
            "SELECT e.*, t.id_masked FROM enrollments e JOIN trainees t USING (trainee_id)"
            " WHERE e.id = $1 AND e.institution_id = $2" + (" FOR UPDATE OF e" if lock else ""),
            enrollment_id,
            institution_id,
        )
        return dict(row) if row else None

    async def enrollments(
        self, institution_id: UUID, status: str | None, tier: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT e.*, t.id_masked FROM enrollments e JOIN trainees t USING (trainee_id)"
            " WHERE e.institution_id = $1 AND ($2::text IS NULL OR e.status = $2)"
            " AND ($3::text IS NULL OR e.tier = $3) ORDER BY e.created_at, e.id LIMIT $4 OFFSET $5",
            institution_id,
            status,
            tier,
            limit,
            offset,
        )
        return [dict(r) for r in rows]

    async def enrollments_by_id(
        self, ids: Sequence[UUID], institution_id: UUID, lock: bool = False
    ) -> dict[UUID, dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT e.* FROM unnest($1::uuid[]) AS p(id) JOIN enrollments e USING (id) WHERE e.institution_id = $2"
            + (" FOR UPDATE OF e" if lock else ""),
            list(ids),
            institution_id,
        )
        return {r["id"]: dict(r) for r in rows}

    async def complete(self, rows: Sequence[tuple[UUID, date, bool, str | None]]) -> None:
        """(enrollment_id, completed_on, passed, outcome) for each finished course."""
        if rows:
            ids, days, passed, outcomes = (list(c) for c in zip(*rows, strict=True))
            await self.conn.execute(
                """UPDATE enrollments e SET status = 'completed', completed_on = r.day, passed = r.passed,
                          outcome = r.outcome
                   FROM unnest($1::uuid[], $2::date[], $3::bool[], $4::text[]) AS r(id, day, passed, outcome)
                   WHERE e.id = r.id""",
                ids,
                days,
                passed,
                outcomes,
            )

    async def set_outcome(self, enrollment_id: UUID, outcome: str) -> None:
        await self.conn.execute("UPDATE enrollments SET outcome = $2 WHERE id = $1", enrollment_id, outcome)

    async def withdraw(self, enrollment_id: UUID, reason: str) -> None:
        await self.conn.execute(
            "UPDATE enrollments SET status = 'withdrawn', withdrawn_reason = $2 WHERE id = $1", enrollment_id, reason
        )

    # --- idempotency ---------------------------------------------------------------------------

    async def claim_idempotency_key(self, principal: str, key: str, request_hash: str) -> dict[str, Any] | None:
        """None if the key is new (and now held by this transaction); else the first request's record."""
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
        return dict(row)

    async def remember_response(self, principal: str, key: str, status: int, body: Any) -> None:
        await self.conn.execute(
            "UPDATE idempotency_keys SET status_code = $3, body = $4::jsonb WHERE principal = $1 AND key = $2",
            principal,
            key,
            status,
            body,  # the pool's jsonb codec encodes it
        )

    # --- progress ------------------------------------------------------------------------------

    async def progress(self) -> list[dict[str, Any]]:
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
        return [dict(r) for r in rows]
