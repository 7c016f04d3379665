"""A run of claims decided together, in memory: what the ledger says about them, read once, and the writes their
decisions make, kept until the store writes them in one statement (funding.store.FundingStore.deciding).

`standing` answers exactly what the store's SQL would answer after every earlier write of the run, by the same
rules, on the rows the run read and wrote: the claim's row (status, yuan set aside), the person's approved
subsidy for the tier, the fund's balance, the institution's suspension and commitments, the year's approvals.
Pure: no I/O, no clock.
"""

from dataclasses import dataclass, replace
from datetime import date
from uuid import UUID

from funding.domain import COMMITTED, SETTING_ASIDE, SPENT, Claim, EntryKind, Standing, SubsidyStatus
from plan_events import Tier
from plan_events.ids import new_id

Person = tuple[str, Tier]  # (trainee id, tier): one approved subsidy each, ever


@dataclass(frozen=True)
class Row:
    """A claim's subsidies row, as far as a standing needs it."""

    id: UUID
    person: Person
    institution_id: UUID
    status: SubsidyStatus
    amount: int
    completed_on: date | None


@dataclass(frozen=True)
class Write:
    """One decision's write, as FundingStore._record makes it: the claim's new row and the ledger's entries."""

    id: UUID
    claim: Claim
    status: SubsidyStatus
    amount: int
    reason: str | None
    policy_version: str | None
    completed_on: date | None
    passed: bool | None
    caused_by: UUID
    entries: tuple[tuple[EntryKind, int], ...]  # only movements of money (no zero yuan)


@dataclass
class Loaded:
    """What the store read for the run, under the fund's lock."""

    available: int
    rows: dict[UUID, Row | None]  # every claim's enrolment: its row, or None
    paid: dict[Person, UUID | None]  # every claim's person: the enrolment holding their approved subsidy
    suspensions: dict[UUID, str | None]  # the claims' institutions: why suspended (None: active); one left out
    # is not known for sure (no row to lock): its claims' standings read it afresh, until a note tells it
    committed: dict[UUID, int] | None  # every claim's institution: yuan committed (None: not read, no cap)
    years: dict[int, int]  # yuan approved per completion year, for the years asked


class Run:
    def __init__(self, loaded: Loaded) -> None:
        self.now = loaded
        self.writes: list[Write] = []
        self.reserved = 0  # the fund's movements so far
        self.approved = 0

    def covers(self, claim: Claim, capped: bool, year: int | None) -> bool:
        """Whether the run read everything a standing of this claim needs."""
        return (
            claim.enrollment_id in self.now.rows
            and (claim.trainee_id, claim.tier) in self.now.paid
            and (not capped or self.now.committed is not None)
            and (year is None or year in self.now.years)
        )

    def knows(self, institution_id: UUID) -> bool:
        """Whether the run knows the institution's suspension for sure (it holds the row's lock, or noted it)."""
        return institution_id in self.now.suspensions

    def standing(self, claim: Claim, capped: bool, year: int | None, suspension: str | None = None) -> Standing:
        """`suspension`: the institution's, read just now, when the run does not know it (`knows`)."""
        row = self.now.rows[claim.enrollment_id]
        holder = self.now.paid[(claim.trainee_id, claim.tier)]
        committed = 0
        if capped:
            assert self.now.committed is not None
            committed = self.now.committed[claim.institution_id]
            if row is not None and row.institution_id == claim.institution_id and row.status in COMMITTED:
                committed -= row.amount  # the claim's own yuan are not counted
        return Standing(
            reserved_for_claim=row.amount if row is not None and row.status in SETTING_ASIDE else 0,
            already_paid=holder is not None and holder != claim.enrollment_id,
            available=self.now.available,
            institution_committed=committed,
            year_approved=self.now.years[year] if year is not None else 0,
            status=row.status if row is not None else None,
            suspension=self.now.suspensions[claim.institution_id] if self.knows(claim.institution_id) else suspension,
        )

    def suspension(self, institution_id: UUID, suspension: str | None) -> None:
        """The institution's row as a note left it."""
        self.now.suspensions[institution_id] = suspension

    def record(
        self,
        claim: Claim,
        status: SubsidyStatus,
        amount: int,
        caused_by: UUID,
        *,
        reason: str | None,
        policy_version: str | None,
        completed_on: date | None,
        reserved: int,
        approved: int,
        passed: bool | None,
        entries: tuple[tuple[EntryKind, int], ...],
    ) -> UUID:
        """A decision's write: the claim's row replaced (the id, person and institution of an existing row stay,
        as the upsert keeps them), the fund moved. Returns the row's id."""
        before = self.now.rows[claim.enrollment_id]
        if before is None:
            after = Row(new_id(), (claim.trainee_id, claim.tier), claim.institution_id, status, amount, completed_on)
        else:
            after = replace(before, status=status, amount=amount, completed_on=completed_on)
        self._count(claim.enrollment_id, before, -1)
        self._count(claim.enrollment_id, after, +1)
        self.now.rows[claim.enrollment_id] = after
        self.now.available -= reserved + approved
        self.reserved += reserved
        self.approved += approved
        moves = tuple((entry, yuan) for entry, yuan in entries if yuan)
        self.writes.append(
            Write(after.id, claim, status, amount, reason, policy_version, completed_on, passed, caused_by, moves)
        )
        return after.id

    def _count(self, enrollment_id: UUID, row: Row | None, sign: int) -> None:
        """Add (+1) or take away (-1) a row's part in the sums the run keeps."""
        if row is None:
            return
        if row.status in COMMITTED and self.now.committed is not None and row.institution_id in self.now.committed:
            self.now.committed[row.institution_id] += sign * row.amount
        if row.status in SPENT:
            if row.person in self.now.paid:
                self.now.paid[row.person] = enrollment_id if sign > 0 else None
            if row.completed_on is not None and row.completed_on.year in self.now.years:
                self.now.years[row.completed_on.year] += sign * row.amount

    def rows(self) -> list[Write]:
        """One write per claim, in the order of their first decision: the last decision's row, with `passed` the
        last one given (the upsert keeps the row's own when a decision gives none) and the first decision's claim
        (whose person and institution a new row is inserted with)."""
        merged: dict[UUID, Write] = {}
        for write in self.writes:
            earlier = merged.get(write.claim.enrollment_id)
            if earlier is not None:
                passed = earlier.passed if write.passed is None else write.passed
                write = replace(write, claim=earlier.claim, passed=passed)
            merged[write.claim.enrollment_id] = write
        return list(merged.values())
