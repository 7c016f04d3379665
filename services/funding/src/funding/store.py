"""All SQL of the `funding` schema. Every method runs on the unit's connection and transaction, and answers
with the domain's typed rows (funding.domain), never asyncpg records."""

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from funding.domain import (
    COMMITTED,
    ApprovalSpan,
    Approved,
    BatchStatus,
    Claim,
    EntryKind,
    FundPosition,
    Held,
    HeldClaim,
    InstitutionStatus,
    KnownInstitution,
    LedgerLine,
    NewBatch,
    Payable,
    PaymentBatch,
    Rejected,
    Reserve,
    Standing,
    Subsidy,
    SubsidyStatus,
    Total,
    Withdrawal,
)
from funding.ports import GROUPS
from funding.run import Loaded, Row, Run
from plan_events import Event, Tier
from plan_events.ids import new_id
from plan_runtime.db import Connection
from plan_runtime.unit import Unit

SUBSIDY_COLUMNS = (
    "id, enrollment_id, trainee_id, institution_id, tier, status, amount_yuan, reason, policy_version,"
    " completed_on, batch_id, decided_at, passed, created_at"
)


def _subsidy(row: Any) -> Subsidy:
    return Subsidy(**{**dict(row), "tier": Tier(row["tier"]), "status": SubsidyStatus(row["status"])})


def _institution(row: Any) -> KnownInstitution:
    return KnownInstitution(**{**dict(row), "status": InstitutionStatus(row["status"])})


def _batch(row: Any) -> PaymentBatch:
    return PaymentBatch(**{**dict(row), "status": BatchStatus(row["status"])})


MIN_RUN = 3  # claims: from here a run's few reads and one write take fewer round trips than two per claim


def _suspension(status: InstitutionStatus, reason: str | None) -> str | None:
    """What a standing says of the institution (as `standing`'s SQL words it)."""
    if status != InstitutionStatus.SUSPENDED:
        return None
    return "institution suspended" + (f": {reason}" if reason is not None else "")


async def ensure_fund(pool: asyncpg.Pool, total: int) -> None:
    """At start-up: the fund's one row, at the policy's total."""
    async with pool.acquire() as conn:
        await FundingStore(conn).ensure_fund(total)


class FundingStore(Unit):
    """The funding ledger in PostgreSQL (implements funding.ports.FundingUnit).

    One store is one transaction. It remembers the row locks its transaction already holds, so a batch of
    decisions does not ask for them again (a round trip each): the fund row's lock, and each institution's row
    as its last `note_institution` left it. Both are forgotten when a savepoint is rolled back (`rolled_back`),
    which releases locks taken after it. Inside `deciding`, a run of claims is read once and written once."""

    def __init__(self, conn: Connection, published: list[Event] | None = None) -> None:
        super().__init__(conn, published)
        self._fund_locked = False
        self._noted: dict[UUID, tuple[int, InstitutionStatus]] = {}  # institution: (highest seq sent, status)
        self._run: Run | None = None  # the run being decided in memory, inside `deciding`

    def rolled_back(self) -> None:
        self._fund_locked = False
        self._noted.clear()
        self._run = None

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
        return FundPosition(row["total_yuan"], row["reserved_yuan"], row["approved_yuan"], row["paid_yuan"])

    async def lock_fund(self) -> None:
        """The fund row's lock, held until the transaction ends: once taken, asking again changes nothing."""
        if not self._fund_locked:
            await self.conn.execute("SELECT 1 FROM fund WHERE id = 1 FOR UPDATE")
            self._fund_locked = True

    async def standing(self, claim: Claim, capped: bool = False, year: int | None = None) -> Standing:
        """Locks the fund row, then reads: decisions are serialised, whatever the number of replicas.

        The lock is its own statement on purpose. Under READ COMMITTED a statement that waited for a row
        lock sees the locked row as it is now but reads every other table with the snapshot taken before
        it waited; the read below starts after the lock is held, so it sees what the previous holder
        committed. The institution's commitments and the year's approvals are summed only when the policy
        has a cap or an envelope (the subqueries in the CASEs run only then).

        Inside `deciding`, a claim of the run is answered from what the run read and wrote; any other claim
        first has the run's writes written, then is read here."""
        if self._run is not None:
            if self._run.covers(claim, capped, year):
                if self._run.knows(claim.institution_id):
                    return self._run.standing(claim, capped, year)
                return self._run.standing(claim, capped, year, await self._suspension_now(claim.institution_id))
            await self._flush()
        await self.lock_fund()
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
            sorted(COMMITTED),
            capped,
            year,
        )
        assert row is not None, "the fund row is created at start-up"
        return Standing(
            reserved_for_claim=row["held"],
            already_paid=row["paid"],
            available=row["available"],
            institution_committed=row["committed"],
            year_approved=row["year_approved"],
            status=None if row["status"] is None else SubsidyStatus(row["status"]),
            suspension=row["suspension"],
        )

    # --- institutions' standing, learnt from events ------------------------------------------

    async def note_institution(
        self, institution_id: UUID, status: InstitutionStatus, seq: int, reason: str | None
    ) -> InstitutionStatus:
        """Keep the newest status (highest sequence) whichever event brought it; returns the status now.

        The row is always updated (to itself when the news is older), so the answer is the row as it is after
        any concurrent writer committed, never a stale snapshot. This takes the institution's row lock: the
        first lock of every decision about the institution (then the fund row, then subsidies).

        Within one transaction, news no newer than what this store already sent and without a reason (a
        completion's) would change nothing of the row, which this transaction has locked since: the answer is
        the one the row gave then, without asking again."""
        known = self._noted.get(institution_id)
        if known is not None and reason is None and seq <= known[0]:
            return known[1]
        row = await self.conn.fetchrow(
            """INSERT INTO institutions AS i (institution_id, status, status_seq, reason)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (institution_id) DO UPDATE SET
                   status = CASE WHEN EXCLUDED.status_seq > i.status_seq THEN EXCLUDED.status ELSE i.status END,
                   reason = CASE WHEN EXCLUDED.status_seq > i.status_seq THEN EXCLUDED.reason
                                 WHEN EXCLUDED.status_seq = i.status_seq THEN coalesce(i.reason, EXCLUDED.reason)
                                 ELSE i.reason END,
                   changed_at = CASE WHEN EXCLUDED.status_seq > i.status_seq THEN now() ELSE i.changed_at END,
                   status_seq = greatest(i.status_seq, EXCLUDED.status_seq)
               RETURNING status, reason""",
            institution_id,
            status.value,
            seq,
            reason,
        )
        assert row is not None
        answer = InstitutionStatus(row["status"])
        self._noted[institution_id] = (max(seq, known[0]) if known else seq, answer)
        if self._run is not None:
            self._run.suspension(institution_id, _suspension(answer, row["reason"]))
        return answer

    async def institution(self, institution_id: UUID, lock: bool = False) -> KnownInstitution | None:
        """The institution's standing as funding knows it; `lock`: the same first lock as `note_institution`."""
        row = await self.conn.fetchrow(
            "SELECT institution_id, status, status_seq, reason, changed_at FROM institutions"
            " WHERE institution_id = $1" + (" FOR UPDATE" if lock else ""),
            institution_id,
        )
        return _institution(row) if row else None

    async def held_claims(self, institution_id: UUID) -> list[HeldClaim]:
        """The institution's held completions, locked, oldest first."""
        rows = await self.conn.fetch(
            "SELECT enrollment_id, trainee_id, institution_id, tier, passed, completed_on FROM subsidies"
            " WHERE institution_id = $1 AND status = 'held' ORDER BY completed_on, enrollment_id FOR UPDATE",
            institution_id,
        )
        return [
            HeldClaim(
                Claim(r["enrollment_id"], r["trainee_id"], r["institution_id"], Tier(r["tier"])),
                r["passed"],
                r["completed_on"],
            )
            for r in rows
        ]

    async def release_reservations(self, institution_id: UUID, actor: str, reason: str) -> tuple[int, int]:
        """Give an institution's reservations (open enrolments and held completions) back to the fund.
        Returns (how many, yuan). A held completion stays held, now with nothing set aside."""
        await self.lock_fund()
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
        await self._entries(EntryKind.RELEASE, ids, amounts, actor, reason)
        return len(rows), sum(amounts)

    # --- a run of claims, decided together: read once, written once ----------------------------------

    @asynccontextmanager
    async def deciding(
        self, claims: Sequence[Claim], capped: bool = False, years: Collection[int] = (), institutions: bool = False
    ) -> AsyncIterator[None]:
        """Read what the claims' standings need in a few statements, answer `standing` and keep the decisions'
        writes in memory (funding.run), and write them all in one statement when the block ends (nothing is
        written if it raises). `institutions`: first lock the claims' institutions, in one order, as the
        decisions will note them (locks go institution, fund, subsidies); a run's suspensions are then exact.
        Without (enrolments), a suspension that commits during the run may be missed, as the one-claim path
        may miss one that commits between its read and its write: a reservation, never an approval, and finance
        releases a suspended institution's reservations."""
        if len(claims) < MIN_RUN or self._run is not None:
            yield  # one or two claims: their own statements cost fewer round trips than a run's reads
            return
        locked = None
        if institutions:
            locked = {
                row["institution_id"]
                for row in await self.conn.fetch(
                    "SELECT institution_id FROM institutions WHERE institution_id = ANY($1::uuid[])"
                    " ORDER BY institution_id FOR UPDATE",
                    sorted({c.institution_id for c in claims}),
                )
            }
        await self.lock_fund()  # the reads below start after it is held (see `standing`)
        loaded = await self._load(claims, capped, years)
        if locked is not None:
            # an institution without a row yet has no lock to take: a suspension may commit meanwhile, so its
            # claims' standings read it afresh, as the one-claim SQL does, unless a completion's news notes it
            for unlocked in set(loaded.suspensions) - locked:
                del loaded.suspensions[unlocked]
        self._run = Run(loaded)
        try:
            yield
            await self._flush()
        finally:
            self._run = None

    async def _suspension_now(self, institution_id: UUID) -> str | None:
        """An institution's suspension as committed now (what `standing`'s SQL reads), for a run that holds no lock
        on it."""
        found: str | None = await self.conn.fetchval(
            "SELECT 'institution suspended' || coalesce(': ' || reason, '') FROM institutions"
            " WHERE institution_id = $1 AND status = 'suspended'",
            institution_id,
        )
        return found

    async def _load(self, claims: Sequence[Claim], capped: bool, years: Collection[int]) -> Loaded:
        rows = await self.conn.fetch(
            """SELECT c.enrollment_id, s.id, s.trainee_id, s.tier, s.institution_id, s.status, s.amount_yuan,
                      s.completed_on,
                      (SELECT p.enrollment_id FROM subsidies p WHERE p.trainee_id = c.trainee_id AND p.tier = c.tier
                       AND p.status IN ('approved', 'paid')) AS paid_by
               FROM unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY AS c(enrollment_id, trainee_id, tier, n)
               LEFT JOIN subsidies s ON s.enrollment_id = c.enrollment_id
               ORDER BY c.n""",
            [c.enrollment_id for c in claims],
            [c.trainee_id for c in claims],
            [c.tier.value for c in claims],
        )
        schools = await self.conn.fetch(
            """SELECT i.institution_id,
                      (SELECT total_yuan - reserved_yuan - approved_yuan FROM fund WHERE id = 1) AS available,
                      (SELECT 'institution suspended' || coalesce(': ' || reason, '') FROM institutions
                       WHERE institution_id = i.institution_id AND status = 'suspended') AS suspension,
                      CASE WHEN $2::bool THEN
                          (SELECT coalesce(sum(amount_yuan), 0)::bigint FROM subsidies
                           WHERE institution_id = i.institution_id AND status = ANY($3::text[])) END AS committed
               FROM unnest($1::uuid[]) AS i(institution_id)""",
            list({c.institution_id for c in claims}),
            capped,
            sorted(COMMITTED),
        )
        sums = (
            await self.conn.fetch(
                """SELECT y.year, (SELECT coalesce(sum(amount_yuan), 0)::bigint FROM subsidies
                               WHERE status IN ('approved', 'paid') AND completed_on >= make_date(y.year, 1, 1)
                               AND completed_on < make_date(y.year + 1, 1, 1)) AS approved
               FROM unnest($1::int[]) AS y(year)""",
                sorted(set(years)),
            )
            if years
            else []
        )
        return Loaded(
            available=schools[0]["available"],
            rows={
                r["enrollment_id"]: None
                if r["id"] is None
                else Row(
                    r["id"],
                    (r["trainee_id"], Tier(r["tier"])),
                    r["institution_id"],
                    SubsidyStatus(r["status"]),
                    r["amount_yuan"],
                    r["completed_on"],
                )
                for r in rows
            },
            paid={(c.trainee_id, c.tier): r["paid_by"] for c, r in zip(claims, rows, strict=True)},
            suspensions={r["institution_id"]: r["suspension"] for r in schools},
            committed={r["institution_id"]: r["committed"] for r in schools} if capped else None,
            years={r["year"]: r["approved"] for r in sums},
        )

    async def _flush(self) -> None:
        """Write the run's decisions in one statement and end the run: each claim's row as its last decision left
        it, the fund moved by their sum (its CHECK sees the result), the ledger's entries in decision order."""
        run, self._run = self._run, None
        if run is None or not run.writes:
            return
        rows = run.rows()
        entries = [(w.id, entry, yuan, w.policy_version, w.caused_by) for w in run.writes for entry, yuan in w.entries]
        written = await self.conn.fetch(
            """WITH claim AS (
                   INSERT INTO subsidies (id, enrollment_id, trainee_id, institution_id, tier, status, amount_yuan,
                                          reason, policy_version, completed_on, decided_at, passed)
                   SELECT r.id, r.enrollment_id, r.trainee_id, r.institution_id, r.tier, r.status, r.amount_yuan,
                          r.reason, r.policy_version, r.completed_on,
                          CASE WHEN r.status IN ('reserved', 'held') THEN NULL ELSE now() END, r.passed
                   FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::bigint[],
                               $8::text[], $9::text[], $10::date[], $11::bool[])
                        AS r(id, enrollment_id, trainee_id, institution_id, tier, status, amount_yuan, reason,
                             policy_version, completed_on, passed)
                   ON CONFLICT (enrollment_id) DO UPDATE SET
                       status = EXCLUDED.status, amount_yuan = EXCLUDED.amount_yuan, reason = EXCLUDED.reason,
                       policy_version = EXCLUDED.policy_version, completed_on = EXCLUDED.completed_on,
                       decided_at = EXCLUDED.decided_at, passed = coalesce(EXCLUDED.passed, subsidies.passed)
                   RETURNING id, enrollment_id),
               fund_moved AS (
                   UPDATE fund SET reserved_yuan = reserved_yuan + $12, approved_yuan = approved_yuan + $13
                   WHERE id = 1 AND ($12 <> 0 OR $13 <> 0)),
               entries AS (
                   INSERT INTO ledger (subsidy_id, entry, amount_yuan, policy_version, actor, caused_by)
                   SELECT e.subsidy_id, e.entry, e.yuan, e.policy_version, 'funding-service', e.caused_by
                   FROM unnest($14::uuid[], $15::text[], $16::bigint[], $17::text[], $18::uuid[])
                        WITH ORDINALITY AS e(subsidy_id, entry, yuan, policy_version, caused_by, n)
                   ORDER BY e.n)
               SELECT id, enrollment_id FROM claim""",
            [w.id for w in rows],
            [w.claim.enrollment_id for w in rows],
            [w.claim.trainee_id for w in rows],
            [w.claim.institution_id for w in rows],
            [w.claim.tier.value for w in rows],
            [w.status.value for w in rows],
            [w.amount for w in rows],
            [w.reason for w in rows],
            [w.policy_version for w in rows],
            [w.completed_on for w in rows],
            [w.passed for w in rows],
            run.reserved,
            run.approved,
            [e[0] for e in entries],
            [e[1].value for e in entries],
            [e[2] for e in entries],
            [e[3] for e in entries],
            [e[4] for e in entries],
        )
        if {(r["id"], r["enrollment_id"]) for r in written} != {(w.id, w.claim.enrollment_id) for w in rows}:
            # every claim's row is read and written under the fund's lock, so its id cannot have changed
            raise RuntimeError("a claim's subsidy row changed under the fund's lock: the run is not written")

    # --- claims: one round trip each ------------------------------------------------------------

    async def reserve(self, decision: Reserve, caused_by: UUID) -> None:
        await self._record(
            decision.claim,
            SubsidyStatus.RESERVED,
            decision.amount,
            caused_by,
            policy_version=decision.policy_version,
            reserved=decision.amount,
            entries=[(EntryKind.RESERVE, decision.amount)],
        )

    async def approve(self, decision: Approved, completed_on: date, caused_by: UUID) -> UUID:
        return await self._record(
            decision.claim,
            SubsidyStatus.APPROVED,
            decision.amount,
            caused_by,
            policy_version=decision.policy_version,
            completed_on=completed_on,
            reserved=-decision.released,
            approved=decision.amount,
            entries=[(EntryKind.RELEASE, decision.released), (EntryKind.APPROVE, decision.amount)],
        )

    async def hold(self, decision: Held, completed_on: date, passed: bool, caused_by: UUID) -> None:
        """No money moves: the reservation (if any) stays on the claim, which waits for reinstatement."""
        await self._record(
            decision.claim,
            SubsidyStatus.HELD,
            decision.reserved,
            caused_by,
            reason=decision.reason,
            policy_version=decision.policy_version,
            completed_on=completed_on,
            passed=passed,
        )

    async def reject(self, decision: Rejected, completed_on: date, caused_by: UUID) -> None:
        await self._record(
            decision.claim,
            SubsidyStatus.REJECTED,
            0,
            caused_by,
            reason=decision.reason.value,
            policy_version=decision.policy_version,
            completed_on=completed_on,
            reserved=-decision.released,
            entries=[(EntryKind.RELEASE, decision.released)],
        )

    async def withdraw(self, withdrawal: Withdrawal, caused_by: UUID) -> None:
        released = withdrawal.release.amount if withdrawal.release else 0
        await self._record(
            withdrawal.claim,
            SubsidyStatus.WITHDRAWN,
            0,
            caused_by,
            reason="enrolment withdrawn",
            reserved=-released,
            entries=[(EntryKind.RELEASE, released)],
        )

    async def _record(
        self,
        claim: Claim,
        status: SubsidyStatus,
        amount: int,
        caused_by: UUID,
        *,
        reason: str | None = None,
        policy_version: str | None = None,
        completed_on: date | None = None,
        reserved: int = 0,
        approved: int = 0,
        passed: bool | None = None,
        entries: tuple[tuple[EntryKind, int], ...] | list[tuple[EntryKind, int]] = (),
    ) -> UUID:
        """One round trip: the claim's new status, the fund's running totals (its CHECK keeps the balance
        at zero or above) and the ledger entries for the movement. Inside `deciding`: kept by the run."""
        if self._run is not None:
            if self._run.covers(claim, False, None):
                return self._run.record(
                    claim,
                    status,
                    amount,
                    caused_by,
                    reason=reason,
                    policy_version=policy_version,
                    completed_on=completed_on,
                    reserved=reserved,
                    approved=approved,
                    passed=passed,
                    entries=tuple(entries),
                )
            await self._flush()
        moves = [(entry, yuan) for entry, yuan in entries if yuan]
        subsidy_id: UUID = await self.conn.fetchval(
            """WITH claim AS (
                   INSERT INTO subsidies (id, enrollment_id, trainee_id, institution_id, tier, status, amount_yuan,
                                          reason, policy_version, completed_on, decided_at, passed)
                   VALUES ($16, $1, $2, $3, $4, $5, $6, $7, $8, $9,
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
            status.value,
            amount,
            reason,
            policy_version,
            completed_on,
            reserved,
            approved,
            caused_by,
            [e.value for e, _ in moves],
            [y for _, y in moves],
            passed,
            new_id(),
        )
        return subsidy_id

    # --- finance's reads and commands -------------------------------------------------------

    async def subsidies(
        self,
        *,
        institution_id: UUID | None = None,
        tier: Tier | None = None,
        status: SubsidyStatus | None = None,
        completed_from: date | None = None,
        completed_to: date | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Subsidy]:
        rows = await self.conn.fetch(
            f"""SELECT {SUBSIDY_COLUMNS} FROM subsidies
               WHERE ($1::uuid IS NULL OR institution_id = $1) AND ($2::text IS NULL OR tier = $2)
                 AND ($3::text IS NULL OR status = $3)
                 AND ($4::date IS NULL OR completed_on >= $4) AND ($5::date IS NULL OR completed_on <= $5)
               ORDER BY completed_on NULLS LAST, id LIMIT $6 OFFSET $7""",
            institution_id,
            tier.value if tier else None,
            status.value if status else None,
            completed_from,
            completed_to,
            limit,
            offset,
        )
        return [_subsidy(r) for r in rows]

    async def subsidy(self, subsidy_id: UUID) -> Subsidy | None:
        row = await self.conn.fetchrow(f"SELECT {SUBSIDY_COLUMNS} FROM subsidies WHERE id = $1 FOR UPDATE", subsidy_id)
        return _subsidy(row) if row else None

    async def decision(self, enrollment_id: UUID) -> tuple[Subsidy, list[LedgerLine]] | None:
        row = await self.conn.fetchrow(
            f"SELECT {SUBSIDY_COLUMNS} FROM subsidies WHERE enrollment_id = $1", enrollment_id
        )
        if row is None:
            return None
        entries = await self.conn.fetch(
            "SELECT entry, amount_yuan, policy_version, actor, reason, caused_by, at FROM ledger"
            " WHERE subsidy_id = $1 ORDER BY id",
            row["id"],
        )
        return _subsidy(row), [LedgerLine(**{**dict(e), "entry": EntryKind(e["entry"])}) for e in entries]

    async def totals_by(self, *columns: str, institution_id: UUID | None = None) -> list[Total]:
        assert set(columns) <= GROUPS and "status" in columns
        group = ", ".join(columns)
        rows = await self.conn.fetch(
            f"SELECT {group}, count(*) AS count, sum(amount_yuan)::bigint AS amount_yuan FROM subsidies"
            f" WHERE ($1::uuid IS NULL OR institution_id = $1) GROUP BY {group} ORDER BY {group}",
            institution_id,
        )
        return [
            Total(
                status=SubsidyStatus(r["status"]),
                count=r["count"],
                amount_yuan=r["amount_yuan"],
                tier=Tier(r["tier"]) if "tier" in columns else None,
                reason=r["reason"] if "reason" in columns else None,
            )
            for r in rows
        ]

    async def approval_span(self) -> ApprovalSpan:
        """First and last completion date with an approval, and the yuan approved in between."""
        row = await self.conn.fetchrow(
            "SELECT min(completed_on) AS first, max(completed_on) AS last,"
            " coalesce(sum(amount_yuan), 0)::bigint AS approved FROM subsidies WHERE status IN ('approved', 'paid')"
        )
        assert row is not None
        return ApprovalSpan(row["first"], row["last"], row["approved"])

    async def payable(self, institution_id: UUID) -> list[Payable]:
        rows = await self.conn.fetch(
            "SELECT id, amount_yuan FROM subsidies WHERE institution_id = $1 AND status = 'approved'"
            " AND batch_id IS NULL ORDER BY id FOR UPDATE",
            institution_id,
        )
        return [Payable(r["id"], r["amount_yuan"]) for r in rows]

    async def create_batch(self, batch_id: UUID, batch: NewBatch, actor: str) -> None:
        await self.conn.execute(
            "INSERT INTO payment_batches (id, institution_id, subsidy_count, total_yuan, status, created_by)"
            " VALUES ($1, $2, $3, $4, 'open', $5)",
            batch_id,
            batch.institution_id,
            batch.subsidy_count,
            batch.total_yuan,
            actor,
        )
        await self.conn.execute(
            "UPDATE subsidies SET batch_id = $1 WHERE id = ANY($2::uuid[])", batch_id, batch.subsidy_ids
        )

    async def batch(self, batch_id: UUID, lock: bool = False) -> PaymentBatch | None:
        row = await self.conn.fetchrow(
            "SELECT id, institution_id, subsidy_count, total_yuan, status, created_by, created_at, paid_by, paid_at"
            " FROM payment_batches WHERE id = $1" + (" FOR UPDATE" if lock else ""),
            batch_id,
        )
        return _batch(row) if row else None

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
        await self._entries(EntryKind.PAY, [r["id"] for r in paid], [r["amount_yuan"] for r in paid], actor)

    async def reverse(self, subsidy_id: UUID, amount: int, actor: str, reason: str) -> None:
        await self.conn.execute(
            "UPDATE subsidies SET status = 'reversed', reason = $2 WHERE id = $1", subsidy_id, reason
        )
        await self.conn.execute("UPDATE fund SET approved_yuan = approved_yuan - $1", amount)
        await self._entries(EntryKind.REVERSE, [subsidy_id], [amount], actor, reason)

    async def _entries(
        self, kind: EntryKind, subsidy_ids: list[UUID], amounts: list[int], actor: str, reason: str | None = None
    ) -> None:
        """Finance's ledger entries of one kind, in one statement (the events' entries are written by `_record`)."""
        await self.conn.execute(
            "INSERT INTO ledger (subsidy_id, entry, amount_yuan, actor, reason)"
            " SELECT unnest($1::uuid[]), $2, unnest($3::bigint[]), $4, $5",
            subsidy_ids,
            kind.value,
            amounts,
            actor,
            reason,
        )

    async def ledger_sums(self) -> dict[str, int]:
        rows = await self.conn.fetch("SELECT entry, sum(amount_yuan)::bigint AS total FROM ledger GROUP BY entry")
        return {r["entry"]: r["total"] for r in rows}
