"""All SQL of the `funding` schema. Every method runs on the caller's connection and transaction."""

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from funding.domain import Approved, Claim, Held, Rejected, Release, Reserve, Standing
from plan_events import Tier
from plan_runtime import Connection

COMMITTED = ("reserved", "held", "approved", "paid")
DECIDED = ("approved", "rejected", "paid", "reversed", "withdrawn")
SETTLED = (*DECIDED, "held")  # a completion seen again in one of these states changes nothing


@dataclass(frozen=True)
class FundPosition:
    total: int
    reserved: int
    approved: int
    paid: int

    @property
    def available(self) -> int:
        return self.total - self.reserved - self.approved


class FundingStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def ensure_fund(self, total: int) -> None:
        await self.conn.execute(
            "INSERT INTO fund (id, total_yuan) VALUES (1, $1)"
            " ON CONFLICT (id) DO UPDATE SET total_yuan = EXCLUDED.total_yuan",
            total,
        )

    async def position(self, lock: bool = False) -> FundPosition:
        row = await self.conn.fetchrow(
            "SELECT total_yuan, reserved_yuan, approved_yuan, paid_yuan FROM fund WHERE id = 1"
            + (" FOR UPDATE" if lock else "")
        )
        assert row is not None, "the fund row is created at start-up"
        return FundPosition(*row)

    async def standing(self, claim: Claim, capped: bool = False, year: int | None = None) -> Standing:
        """Locks the fund row, then reads: decisions are serialised, whatever the number of replicas.

        The lock is its own statement on purpose. Under READ COMMITTED a statement that waited for a row
        lock sees the locked row as it is now but reads every other table with the snapshot taken before
        it waited; the read below starts after the lock is held, so it sees what the previous holder
        committed. The institution's commitments and the year's approvals are summed only when the policy
        has a cap or an envelope (the subqueries in the CASEs run only then)."""
        await self.conn.execute("SELECT 1 FROM fund WHERE id = 1 FOR UPDATE")
        row = await self.conn.fetchrow(
            """SELECT total_yuan - reserved_yuan - approved_yuan AS available,
                 (SELECT status FROM subsidies WHERE enrollment_id = $1) AS status,
                 coalesce((SELECT amount_yuan FROM subsidies
                           WHERE enrollment_id = $1 AND status IN ('reserved', 'held')), 0) AS held,
                 (SELECT 'institution suspended' || coalesce(': ' || reason, '') FROM institutions
                  WHERE institution_id = $4 AND status = 'suspended') AS suspension,
                 EXISTS (SELECT 1 FROM subsidies WHERE trainee_id = $2 AND tier = $3
                         AND status IN ('approved', 'paid') AND enrollment_id <> $1) AS paid,
                 CASE WHEN $6::bool THEN
                     (SELECT coalesce(sum(amount_yuan), 0)::bigint FROM subsidies WHERE institution_id = $4
                      AND status = ANY($5::text[]) AND enrollment_id <> $1) ELSE 0 END AS committed,
                 CASE WHEN $7::int IS NOT NULL THEN
                     (SELECT coalesce(sum(amount_yuan), 0)::bigint FROM subsidies
                      WHERE status IN ('approved', 'paid') AND completed_on >= make_date($7, 1, 1)
                      AND completed_on < make_date($7 + 1, 1, 1)) ELSE 0 END AS year_approved
               FROM fund WHERE id = 1""",
            claim.enrollment_id,
            claim.trainee_id,
            claim.tier.value,
            claim.institution_id,
            list(COMMITTED),
            capped,
            year,
        )
        assert row is not None, "the fund row is created at start-up"
        return Standing(
            row["held"],
            row["paid"],
            row["available"],
            row["committed"],
            row["year_approved"],
            row["status"],
            row["suspension"],
        )

    # --- institutions' standing, learnt from events ------------------------------------------

    async def note_institution(self, institution_id: UUID, status: str, seq: int, reason: str | None) -> str:
        """Keep the newest status (highest sequence) whichever event brought it; returns the status now.

        The row is always updated (to itself when the news is older), so the answer is the row as it is after
        any concurrent writer committed, never a stale snapshot. This takes the institution's row lock: the
        first lock of every decision about the institution (then the fund row, then subsidies)."""
        current: str = await self.conn.fetchval(
            """INSERT INTO institutions AS i (institution_id, status, status_seq, reason)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (institution_id) DO UPDATE SET
                   status = CASE WHEN EXCLUDED.status_seq > i.status_seq THEN EXCLUDED.status ELSE i.status END,
                   reason = CASE WHEN EXCLUDED.status_seq > i.status_seq THEN EXCLUDED.reason
                                 WHEN EXCLUDED.status_seq = i.status_seq THEN coalesce(i.reason, EXCLUDED.reason)
                                 ELSE i.reason END,
                   changed_at = CASE WHEN EXCLUDED.status_seq > i.status_seq THEN now() ELSE i.changed_at END,
                   status_seq = greatest(i.status_seq, EXCLUDED.status_seq)
               RETURNING status""",
            institution_id,
            status,
            seq,
            reason,
        )
        return current

    async def institution(self, institution_id: UUID, lock: bool = False) -> dict[str, Any] | None:
        """The institution's standing as funding knows it; `lock`: the same first lock as `note_institution`."""
        row = await self.conn.fetchrow(
            "SELECT * FROM institutions WHERE institution_id = $1" + (" FOR UPDATE" if lock else ""), institution_id
        )
        return dict(row) if row else None

    async def lock_fund(self) -> None:
        await self.conn.execute("SELECT 1 FROM fund WHERE id = 1 FOR UPDATE")

    async def held_claims(self, institution_id: UUID) -> list[tuple[Claim, bool, date]]:
        """The institution's held completions, locked, oldest first: (claim, passed, completed_on)."""
        rows = await self.conn.fetch(
            "SELECT enrollment_id, trainee_id, institution_id, tier, passed, completed_on FROM subsidies"
            " WHERE institution_id = $1 AND status = 'held' ORDER BY completed_on, enrollment_id FOR UPDATE",
            institution_id,
        )
        return [
            (
                Claim(r["enrollment_id"], r["trainee_id"], r["institution_id"], Tier(r["tier"])),
                r["passed"],
                r["completed_on"],
            )
            for r in rows
        ]

    async def release_reservations(self, institution_id: UUID, actor: str, reason: str) -> tuple[int, int]:
        """Give an institution's reservations (open enrolments and held completions) back to the fund.
        Returns (how many, yuan). A held completion stays held, now with nothing set aside."""
        await self.conn.execute("SELECT 1 FROM fund WHERE id = 1 FOR UPDATE")
        rows = await self.conn.fetch(
            "SELECT id, amount_yuan FROM subsidies WHERE institution_id = $1 AND status IN ('reserved', 'held')"
            " AND amount_yuan > 0 FOR UPDATE",
            institution_id,
        )
        if not rows:
            return 0, 0
        ids, amounts = [r["id"] for r in rows], [r["amount_yuan"] for r in rows]
        await self.conn.execute(
            "UPDATE subsidies SET amount_yuan = 0,"
            " status = CASE WHEN status = 'reserved' THEN 'released' ELSE status END WHERE id = ANY($1::uuid[])",
            ids,
        )
        await self.conn.execute("UPDATE fund SET reserved_yuan = reserved_yuan - $1 WHERE id = 1", sum(amounts))
        await self.conn.execute(
            "INSERT INTO ledger (subsidy_id, entry, amount_yuan, actor, reason)"
            " SELECT unnest($1::uuid[]), 'release', unnest($2::bigint[]), $3, $4",
            ids,
            amounts,
            actor,
            reason,
        )
        return len(rows), sum(amounts)

    async def reserve(self, decision: Reserve, caused_by: UUID) -> None:
        await self._record(
            decision.claim,
            "reserved",
            decision.amount,
            None,
            decision.policy_version,
            None,
            caused_by,
            reserved=decision.amount,
            entries=[("reserve", decision.amount)],
        )

    async def approve(self, decision: Approved, completed_on: date, caused_by: UUID) -> UUID:
        return await self._record(
            decision.claim,
            "approved",
            decision.amount,
            None,
            decision.policy_version,
            completed_on,
            caused_by,
            reserved=-decision.released,
            approved=decision.amount,
            entries=[("release", decision.released), ("approve", decision.amount)],
        )

    async def hold(self, decision: Held, completed_on: date, passed: bool, caused_by: UUID) -> None:
        """No money moves: the reservation (if any) stays on the claim, which waits for reinstatement."""
        await self._record(
            decision.claim,
            "held",
            decision.reserved,
            decision.reason,
            decision.policy_version,
            completed_on,
            caused_by,
            passed=passed,
            entries=[],
        )

    async def reject(self, decision: Rejected, completed_on: date, caused_by: UUID) -> None:
        await self._record(
            decision.claim,
            "rejected",
            0,
            decision.reason.value,
            decision.policy_version,
            completed_on,
            caused_by,
            reserved=-decision.released,
            entries=[("release", decision.released)],
        )

    async def withdraw(self, claim: Claim, release: Release | None, caused_by: UUID) -> None:
        released = release.amount if release else 0
        await self._record(
            claim,
            "withdrawn",
            0,
            "enrolment withdrawn",
            None,
            None,
            caused_by,
            reserved=-released,
            entries=[("release", released)],
        )

    async def _record(
        self,
        claim: Claim,
        status: str,
        amount: int,
        reason: str | None,
        policy_version: str | None,
        completed_on: date | None,
        caused_by: UUID,
        *,
        reserved: int = 0,
        approved: int = 0,
        passed: bool | None = None,
        entries: list[tuple[str, int]],
    ) -> UUID:
        """One round trip: the claim's new status, the fund's running totals (its CHECK keeps the balance
        at zero or above) and the ledger entries for the movement."""
        moves = [(entry, yuan) for entry, yuan in entries if yuan]
        subsidy_id: UUID = await self.conn.fetchval(
            """WITH claim AS (
                   INSERT INTO subsidies (id, enrollment_id, trainee_id, institution_id, tier, status, amount_yuan,
                                          reason, policy_version, completed_on, decided_at, passed)
                   VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7, $8, $9,
                           CASE WHEN $5 IN ('reserved', 'held') THEN NULL ELSE now() END, $15)
                   ON CONFLICT (enrollment_id) DO UPDATE SET
                       status = EXCLUDED.status, amount_yuan = EXCLUDED.amount_yuan, reason = EXCLUDED.reason,
                       policy_version = EXCLUDED.policy_version, completed_on = EXCLUDED.completed_on,
                       decided_at = EXCLUDED.decided_at, passed = coalesce(EXCLUDED.passed, subsidies.passed)
                   RETURNING id),
               fund_moved AS (
                   UPDATE fund SET reserved_yuan = reserved_yuan + $10, approved_yuan = approved_yuan + $11
                   WHERE id = 1 AND ($10 <> 0 OR $11 <> 0)),
               entries AS (
                   INSERT INTO ledger (subsidy_id, entry, amount_yuan, policy_version, actor, caused_by)
                   SELECT claim.id, m.entry, m.yuan, $8, 'funding-service', $12
                   FROM claim, unnest($13::text[], $14::bigint[]) AS m(entry, yuan))
               SELECT id FROM claim""",
            claim.enrollment_id,
            claim.trainee_id,
            claim.institution_id,
            claim.tier.value,
            status,
            amount,
            reason,
            policy_version,
            completed_on,
            reserved,
            approved,
            caused_by,
            [e for e, _ in moves],
            [y for _, y in moves],
            passed,
        )
        return subsidy_id

    async def _entry(
        self,
        subsidy_id: UUID,
        entry: str,
        amount: int,
        policy_version: str | None,
        caused_by: UUID | None,
        actor: str = "funding-service",
        reason: str | None = None,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO ledger (subsidy_id, entry, amount_yuan, policy_version, actor, reason, caused_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            subsidy_id,
            entry,
            amount,
            policy_version,
            actor,
            reason,
            caused_by,
        )

    # --- finance's reads and commands -------------------------------------------------------

    async def subsidies(
        self,
        *,
        institution_id: UUID | None = None,
        tier: str | None = None,
        status: str | None = None,
        decided_from: date | None = None,
        decided_to: date | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            """SELECT id, enrollment_id, trainee_id, institution_id, tier, status, amount_yuan, reason,
                      policy_version, completed_on, batch_id, decided_at
               FROM subsidies
               WHERE ($1::uuid IS NULL OR institution_id = $1) AND ($2::text IS NULL OR tier = $2)
                 AND ($3::text IS NULL OR status = $3)
                 AND ($4::date IS NULL OR completed_on >= $4) AND ($5::date IS NULL OR completed_on <= $5)
               ORDER BY completed_on NULLS LAST, id LIMIT $6 OFFSET $7""",
            institution_id,
            tier,
            status,
            decided_from,
            decided_to,
            limit,
            offset,
        )
        return [dict(r) for r in rows]

    async def subsidy(self, subsidy_id: UUID) -> dict[str, Any] | None:
        row = await self.conn.fetchrow("SELECT * FROM subsidies WHERE id = $1 FOR UPDATE", subsidy_id)
        return dict(row) if row else None

    async def decision(self, enrollment_id: UUID) -> dict[str, Any] | None:
        row = await self.conn.fetchrow("SELECT * FROM subsidies WHERE enrollment_id = $1", enrollment_id)
        if row is None:
            return None
        entries = await self.conn.fetch(
            "SELECT entry, amount_yuan, policy_version, actor, reason, caused_by, at FROM ledger"
            " WHERE subsidy_id = $1 ORDER BY id",
            row["id"],
        )
        return {**dict(row), "ledger": [dict(e) for e in entries]}

    async def totals_by(self, *columns: str, institution_id: UUID | None = None) -> list[dict[str, Any]]:
        allowed = {"status", "tier", "reason", "institution_id"}
        assert set(columns) <= allowed
        group = ", ".join(columns)
        rows = await self.conn.fetch(
            f"SELECT {group}, count(*) AS count, sum(amount_yuan)::bigint AS amount_yuan FROM subsidies"
            f" WHERE ($1::uuid IS NULL OR institution_id = $1) GROUP BY {group} ORDER BY {group}",
            institution_id,
        )
        return [dict(r) for r in rows]

    async def burn(self) -> tuple[date | None, date | None, int]:
        """First and last completion date with an approval, and the yuan approved in between."""
        row = await self.conn.fetchrow(
            "SELECT min(completed_on), max(completed_on), coalesce(sum(amount_yuan), 0)::bigint FROM subsidies"
            " WHERE status IN ('approved', 'paid')"
        )
        assert row is not None
        return row[0], row[1], row[2]

    async def unbatched_approved(self, institution_id: UUID) -> list[tuple[UUID, int]]:
        rows = await self.conn.fetch(
            "SELECT id, amount_yuan FROM subsidies WHERE institution_id = $1 AND status = 'approved'"
            " AND batch_id IS NULL ORDER BY id FOR UPDATE",
            institution_id,
        )
        return [(r["id"], r["amount_yuan"]) for r in rows]

    async def create_batch(
        self, batch_id: UUID, institution_id: UUID, subsidy_ids: list[UUID], total: int, actor: str
    ) -> None:
        await self.conn.execute(
            "INSERT INTO payment_batches (id, institution_id, subsidy_count, total_yuan, status, created_by)"
            " VALUES ($1, $2, $3, $4, 'open', $5)",
            batch_id,
            institution_id,
            len(subsidy_ids),
            total,
            actor,
        )
        await self.conn.execute("UPDATE subsidies SET batch_id = $1 WHERE id = ANY($2::uuid[])", batch_id, subsidy_ids)

    async def batch(self, batch_id: UUID, lock: bool = False) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM payment_batches WHERE id = $1" + (" FOR UPDATE" if lock else ""), batch_id
        )
        return dict(row) if row else None

    async def pay_batch(self, batch_id: UUID, actor: str) -> None:
        paid = await self.conn.fetch(
            "UPDATE subsidies SET status = 'paid' WHERE batch_id = $1 AND status = 'approved'"
            " RETURNING id, amount_yuan",
            batch_id,
        )
        total = sum(r["amount_yuan"] for r in paid)
        await self.conn.execute("UPDATE fund SET paid_yuan = paid_yuan + $1", total)
        await self.conn.execute(
            "UPDATE payment_batches SET status = 'paid', paid_by = $2, paid_at = now() WHERE id = $1",
            batch_id,
            actor,
        )
        for row in paid:
            await self._entry(row["id"], "pay", row["amount_yuan"], None, None, actor=actor)

    async def reverse(self, subsidy_id: UUID, amount: int, actor: str, reason: str) -> None:
        await self.conn.execute(
            "UPDATE subsidies SET status = 'reversed', reason = $2 WHERE id = $1", subsidy_id, reason
        )
        await self.conn.execute("UPDATE fund SET approved_yuan = approved_yuan - $1", amount)
        await self._entry(subsidy_id, "reverse", amount, None, None, actor=actor, reason=reason)

    async def ledger_sums(self) -> dict[str, int]:
        rows = await self.conn.fetch("SELECT entry, sum(amount_yuan)::bigint AS total FROM ledger GROUP BY entry")
        return {r["entry"]: r["total"] for r in rows}
