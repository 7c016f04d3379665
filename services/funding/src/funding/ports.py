"""What the use cases need of the ledger: the PostgreSQL store (funding.store) and the in-memory fake of the
unit tests (tests/fakes/funding.py) both provide it, and pass one contract suite
(tests/support/contracts/funding_store.py)."""

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date
from typing import Protocol
from uuid import UUID

from funding import domain as d
from plan_events import Event, Tier

GROUPS = frozenset({"status", "tier", "reason", "institution_id"})  # what `totals_by` may group by


class FundingUnit(Protocol):
    """The ledger on one transaction, and the events to publish when it commits.

    Locks, where a method takes them, are taken in one order everywhere: institution, fund, subsidies."""

    def publish(self, *events: Event) -> None: ...

    # --- the fund ---
    async def ensure_fund(self, total: int) -> None: ...
    async def position(self, lock: bool = False) -> d.FundPosition: ...
    async def lock_fund(self) -> None: ...
    async def approval_span(self) -> d.ApprovalSpan: ...

    # --- claims, decided from events ---
    async def standing(self, claim: d.Claim, capped: bool = False, year: int | None = None) -> d.Standing:
        """Locks the fund, then reads what the ledger says about the claim."""
        ...

    def deciding(
        self, claims: Sequence[d.Claim], capped: bool = False, years: Collection[int] = (), institutions: bool = False
    ) -> AbstractAsyncContextManager[None]:
        """A run of claims decided together. Inside, `standing`, the claims' decisions and `note_institution`
        answer and leave exactly what they would one by one (the store may read the run's ledger once, and write
        its decisions once when the block ends). `capped` and `years`: what the run's
        standings ask. `institutions`: lock the claims' institutions first (the run will note them)."""
        ...

    async def reserve(self, decision: d.Reserve, caused_by: UUID) -> None: ...
    async def approve(self, decision: d.Approved, completed_on: date, caused_by: UUID) -> UUID: ...
    async def hold(self, decision: d.Held, completed_on: date, passed: bool, caused_by: UUID) -> None: ...
    async def reject(self, decision: d.Rejected, completed_on: date, caused_by: UUID) -> None: ...
    async def withdraw(self, withdrawal: d.Withdrawal, caused_by: UUID) -> None: ...

    # --- institutions ---
    async def note_institution(
        self, institution_id: UUID, status: d.InstitutionStatus, seq: int, reason: str | None
    ) -> d.InstitutionStatus:
        """Keeps the newest status (highest sequence); returns the status now. Locks the institution."""
        ...

    async def institution(self, institution_id: UUID, lock: bool = False) -> d.KnownInstitution | None: ...
    async def held_claims(self, institution_id: UUID) -> list[d.HeldClaim]:
        """The institution's held completions, locked, oldest first."""
        ...

    async def release_reservations(self, institution_id: UUID, actor: str, reason: str) -> tuple[int, int]:
        """Gives the institution's reservations back to the fund: (how many, yuan)."""
        ...

    # --- finance ---
    async def payable(self, institution_id: UUID) -> list[d.Payable]:
        """The institution's approved subsidies in no batch yet, locked."""
        ...

    async def create_batch(self, batch_id: UUID, batch: d.NewBatch, actor: str) -> None: ...
    async def batch(self, batch_id: UUID, lock: bool = False) -> d.PaymentBatch | None: ...
    async def pay_batch(self, batch_id: UUID, actor: str) -> None: ...
    async def subsidy(self, subsidy_id: UUID) -> d.Subsidy | None:
        """The subsidy, locked."""
        ...

    async def reverse(self, subsidy_id: UUID, amount: int, actor: str, reason: str) -> None: ...

    # --- reads ---
    async def subsidies(
        self,
        *,
        institution_id: UUID | None = None,
        tier: Tier | None = None,
        status: d.SubsidyStatus | None = None,
        completed_from: date | None = None,
        completed_to: date | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[d.Subsidy]:
        """Ordered by completion date (none last), then id."""
        ...

    async def decision(self, enrollment_id: UUID) -> tuple[d.Subsidy, list[d.LedgerLine]] | None: ...
    async def totals_by(self, *columns: str, institution_id: UUID | None = None) -> list[d.Total]:
        """Count and yuan grouped by `columns` (some of GROUPS), ordered by them."""
        ...

    async def ledger_sums(self) -> dict[str, int]: ...
