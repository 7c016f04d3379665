"""An in-memory funding ledger: the fake unit of work of funding's use-case tests.

It implements funding.ports.FundingUnit as the PostgreSQL store does (the contract suite in
tests/support/contracts/funding_store.py runs against both), including the database's refusals that guard the
money: the fund never overspent, one approved subsidy per person per tier. Locks are no-ops (one task).
"""

import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from uuid import UUID

from funding.domain import (
    COMMITTED,
    SETTING_ASIDE,
    SPENT,
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
from plan_events import Event, Tier

SERVICE = "funding-service"


class Overspent(Exception):
    """What PostgreSQL's fund_never_overspent / one_subsidy_per_person_per_tier would refuse."""


@dataclass
class FakeFundingUnit:
    fund: FundPosition = field(default_factory=lambda: FundPosition(0, 0, 0, 0))
    rows: dict[UUID, Subsidy] = field(default_factory=dict)  # the subsidies, by enrolment id
    ledger: list[tuple[UUID, LedgerLine]] = field(default_factory=list)  # (subsidy id, entry), in order
    institutions: dict[UUID, KnownInstitution] = field(default_factory=dict)
    batches: dict[UUID, PaymentBatch] = field(default_factory=dict)
    published: list[Event] = field(default_factory=list)

    def publish(self, *events: Event) -> None:
        self.published.extend(events)

    # --- the fund ---

    async def ensure_fund(self, total: int) -> None:
        self.fund = replace(self.fund, total=total)

    async def position(self, lock: bool = False) -> FundPosition:
        return self.fund

    async def lock_fund(self) -> None:
        pass

    async def approval_span(self) -> ApprovalSpan:
        spent = [s for s in self.rows.values() if s.status in SPENT]
        days = [s.completed_on for s in spent if s.completed_on is not None]
        return ApprovalSpan(min(days, default=None), max(days, default=None), sum(s.amount_yuan for s in spent))

    def _move(self, reserved: int = 0, approved: int = 0, paid: int = 0) -> None:
        fund = self.fund
        moved = FundPosition(fund.total, fund.reserved + reserved, fund.approved + approved, fund.paid + paid)
        if min(moved.reserved, moved.approved, moved.paid, moved.available) < 0 or moved.paid > moved.approved:
            raise Overspent(f"the fund would be {moved}")
        self.fund = moved

    def _entry(
        self,
        subsidy_id: UUID,
        kind: EntryKind,
        yuan: int,
        *,
        policy_version: str | None = None,
        actor: str = SERVICE,
        reason: str | None = None,
        caused_by: UUID | None = None,
    ) -> None:
        line = LedgerLine(kind, yuan, policy_version, actor, reason, caused_by, datetime.now(UTC))
        self.ledger.append((subsidy_id, line))

    # --- claims ---

    async def standing(self, claim: Claim, capped: bool = False, year: int | None = None) -> Standing:
        mine = self.rows.get(claim.enrollment_id)
        others = [s for s in self.rows.values() if s.enrollment_id != claim.enrollment_id]
        known = self.institutions.get(claim.institution_id)
        suspension = None
        if known is not None and known.status == InstitutionStatus.SUSPENDED:
            suspension = "institution suspended" + (f": {known.reason}" if known.reason is not None else "")
        return Standing(
            reserved_for_claim=mine.amount_yuan if mine and mine.status in SETTING_ASIDE else 0,
            already_paid=any(
                s.trainee_id == claim.trainee_id and s.tier == claim.tier and s.status in SPENT for s in others
            ),
            available=self.fund.available,
            institution_committed=sum(
                s.amount_yuan for s in others if s.institution_id == claim.institution_id and s.status in COMMITTED
            )
            if capped
            else 0,
            year_approved=sum(
                s.amount_yuan
                for s in self.rows.values()
                if s.status in SPENT and s.completed_on is not None and s.completed_on.year == year
            )
            if year is not None
            else 0,
            status=mine.status if mine else None,
            suspension=suspension,
        )

    @asynccontextmanager
    async def deciding(
        self, claims: Sequence[Claim], capped: bool = False, years: Collection[int] = (), institutions: bool = False
    ) -> AsyncIterator[None]:
        """Nothing to gather: every write of this ledger is in memory already."""
        yield

    async def reserve(self, decision: Reserve, caused_by: UUID) -> None:
        self._record(
            decision.claim,
            SubsidyStatus.RESERVED,
            decision.amount,
            caused_by,
            decision.policy_version,
            reserved=decision.amount,
            entries=[(EntryKind.RESERVE, decision.amount)],
        )

    async def approve(self, decision: Approved, completed_on: date, caused_by: UUID) -> UUID:
        return self._record(
            decision.claim,
            SubsidyStatus.APPROVED,
            decision.amount,
            caused_by,
            decision.policy_version,
            completed_on=completed_on,
            reserved=-decision.released,
            approved=decision.amount,
            entries=[(EntryKind.RELEASE, decision.released), (EntryKind.APPROVE, decision.amount)],
        )

    async def hold(self, decision: Held, completed_on: date, passed: bool, caused_by: UUID) -> None:
        self._record(
            decision.claim,
            SubsidyStatus.HELD,
            decision.reserved,
            caused_by,
            decision.policy_version,
            reason=decision.reason,
            completed_on=completed_on,
            passed=passed,
        )

    async def reject(self, decision: Rejected, completed_on: date, caused_by: UUID) -> None:
        self._record(
            decision.claim,
            SubsidyStatus.REJECTED,
            0,
            caused_by,
            decision.policy_version,
            reason=decision.reason.value,
            completed_on=completed_on,
            reserved=-decision.released,
            entries=[(EntryKind.RELEASE, decision.released)],
        )

    async def withdraw(self, withdrawal: Withdrawal, caused_by: UUID) -> None:
        released = withdrawal.release.amount if withdrawal.release else 0
        self._record(
            withdrawal.claim,
            SubsidyStatus.WITHDRAWN,
            0,
            caused_by,
            None,
            reason="enrolment withdrawn",
            reserved=-released,
            entries=[(EntryKind.RELEASE, released)],
        )

    def _record(
        self,
        claim: Claim,
        status: SubsidyStatus,
        amount: int,
        caused_by: UUID,
        policy_version: str | None,
        *,
        reason: str | None = None,
        completed_on: date | None = None,
        reserved: int = 0,
        approved: int = 0,
        passed: bool | None = None,
        entries: list[tuple[EntryKind, int]] | None = None,
    ) -> UUID:
        now = datetime.now(UTC)
        before = self.rows.get(claim.enrollment_id)
        person = (before.trainee_id, before.tier) if before else (claim.trainee_id, claim.tier)  # the row keeps its own
        if status in SPENT and any(
            (s.trainee_id, s.tier) == person and s.status in SPENT
            for s in self.rows.values()
            if s.enrollment_id != claim.enrollment_id
        ):
            raise Overspent("one_subsidy_per_person_per_tier")
        self._move(reserved=reserved, approved=approved)
        subsidy = Subsidy(
            id=before.id if before else uuid.uuid4(),
            enrollment_id=claim.enrollment_id,
            trainee_id=before.trainee_id if before else claim.trainee_id,
            institution_id=before.institution_id if before else claim.institution_id,
            tier=before.tier if before else claim.tier,
            status=status,
            amount_yuan=amount,
            reason=reason,
            policy_version=policy_version,
            completed_on=completed_on,
            batch_id=before.batch_id if before else None,
            decided_at=None if status in SETTING_ASIDE else now,
            passed=passed if passed is not None else (before.passed if before else None),
            created_at=before.created_at if before else now,
        )
        self.rows[claim.enrollment_id] = subsidy
        for kind, yuan in entries or []:
            if yuan:
                self._entry(subsidy.id, kind, yuan, policy_version=policy_version, caused_by=caused_by)
        return subsidy.id

    # --- institutions ---

    async def note_institution(
        self, institution_id: UUID, status: InstitutionStatus, seq: int, reason: str | None
    ) -> InstitutionStatus:
        known = self.institutions.get(institution_id)
        if known is None or seq > known.status_seq:
            known = KnownInstitution(institution_id, status, seq, reason, datetime.now(UTC))
        elif seq == known.status_seq and known.reason is None:
            known = replace(known, reason=reason)
        self.institutions[institution_id] = known
        return known.status

    async def institution(self, institution_id: UUID, lock: bool = False) -> KnownInstitution | None:
        return self.institutions.get(institution_id)

    async def held_claims(self, institution_id: UUID) -> list[HeldClaim]:
        held = [s for s in self.rows.values() if s.institution_id == institution_id and s.status == SubsidyStatus.HELD]
        held.sort(key=lambda s: (s.completed_on or date.max, s.enrollment_id))
        return [
            HeldClaim(Claim(s.enrollment_id, s.trainee_id, s.institution_id, s.tier), bool(s.passed), day)
            for s in held
            if (day := s.completed_on) is not None
        ]

    async def release_reservations(self, institution_id: UUID, actor: str, reason: str) -> tuple[int, int]:
        found = [
            s
            for s in self.rows.values()
            if s.institution_id == institution_id and s.status in SETTING_ASIDE and s.amount_yuan > 0
        ]
        for s in found:
            status = SubsidyStatus.RELEASED if s.status == SubsidyStatus.RESERVED else s.status
            self.rows[s.enrollment_id] = replace(s, amount_yuan=0, status=status)
            self._entry(s.id, EntryKind.RELEASE, s.amount_yuan, actor=actor, reason=reason)
        yuan = sum(s.amount_yuan for s in found)
        self._move(reserved=-yuan)
        return len(found), yuan

    # --- finance ---

    def _by_id(self, subsidy_id: UUID) -> Subsidy | None:
        return next((s for s in self.rows.values() if s.id == subsidy_id), None)

    async def payable(self, institution_id: UUID) -> list[Payable]:
        found = [
            Payable(s.id, s.amount_yuan)
            for s in self.rows.values()
            if s.institution_id == institution_id and s.status == SubsidyStatus.APPROVED and s.batch_id is None
        ]
        return sorted(found, key=lambda p: p.subsidy_id)

    async def create_batch(self, batch_id: UUID, batch: NewBatch, actor: str) -> None:
        self.batches[batch_id] = PaymentBatch(
            batch_id,
            batch.institution_id,
            batch.subsidy_count,
            batch.total_yuan,
            BatchStatus.OPEN,
            actor,
            datetime.now(UTC),
            None,
            None,
        )
        for subsidy_id in batch.subsidy_ids:
            s = self._by_id(subsidy_id)
            assert s is not None
            self.rows[s.enrollment_id] = replace(s, batch_id=batch_id)

    async def batch(self, batch_id: UUID, lock: bool = False) -> PaymentBatch | None:
        return self.batches.get(batch_id)

    async def pay_batch(self, batch_id: UUID, actor: str) -> None:
        paid = [s for s in self.rows.values() if s.batch_id == batch_id and s.status == SubsidyStatus.APPROVED]
        self._move(paid=sum(s.amount_yuan for s in paid))
        self.batches[batch_id] = replace(
            self.batches[batch_id], status=BatchStatus.PAID, paid_by=actor, paid_at=datetime.now(UTC)
        )
        for s in sorted(paid, key=lambda s: s.id):
            self.rows[s.enrollment_id] = replace(s, status=SubsidyStatus.PAID)
            self._entry(s.id, EntryKind.PAY, s.amount_yuan, actor=actor)

    async def subsidy(self, subsidy_id: UUID) -> Subsidy | None:
        return self._by_id(subsidy_id)

    async def reverse(self, subsidy_id: UUID, amount: int, actor: str, reason: str) -> None:
        s = self._by_id(subsidy_id)
        assert s is not None
        self._move(approved=-amount)
        self.rows[s.enrollment_id] = replace(s, status=SubsidyStatus.REVERSED, reason=reason)
        self._entry(subsidy_id, EntryKind.REVERSE, amount, actor=actor, reason=reason)

    # --- reads ---

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
        found = [
            s
            for s in self.rows.values()
            if (institution_id is None or s.institution_id == institution_id)
            and (tier is None or s.tier == tier)
            and (status is None or s.status == status)
            and (completed_from is None or (s.completed_on is not None and s.completed_on >= completed_from))
            and (completed_to is None or (s.completed_on is not None and s.completed_on <= completed_to))
        ]
        found.sort(key=lambda s: (s.completed_on is None, s.completed_on or date.min, s.id))
        return found[offset : offset + limit]

    async def decision(self, enrollment_id: UUID) -> tuple[Subsidy, list[LedgerLine]] | None:
        s = self.rows.get(enrollment_id)
        if s is None:
            return None
        return s, [line for subsidy_id, line in self.ledger if subsidy_id == s.id]

    async def totals_by(self, *columns: str, institution_id: UUID | None = None) -> list[Total]:
        assert set(columns) <= GROUPS and "status" in columns
        groups: dict[tuple[object, ...], list[Subsidy]] = {}
        for s in self.rows.values():
            if institution_id is None or s.institution_id == institution_id:
                groups.setdefault(tuple(getattr(s, c) for c in columns), []).append(s)

        def order(key: tuple[object, ...]) -> tuple[tuple[bool, str], ...]:
            return tuple((k is None, str(k or "")) for k in key)  # as PostgreSQL: NULLs last

        return [
            Total(
                status=members[0].status,
                count=len(members),
                amount_yuan=sum(s.amount_yuan for s in members),
                tier=members[0].tier if "tier" in columns else None,
                reason=members[0].reason if "reason" in columns else None,
            )
            for key, members in sorted(groups.items(), key=lambda item: order(item[0]))
        ]

    async def ledger_sums(self) -> dict[str, int]:
        sums: dict[str, int] = {}
        for _, line in self.ledger:
            sums[line.entry.value] = sums.get(line.entry.value, 0) + line.amount_yuan
        return sums
