"""What the use cases need of a store: the PostgreSQL one (store.py) and the in-memory one of the unit tests
(tests/fakes/talent_card.py) both pass one contract suite (tests/support/contracts/talent_card_store.py).

A store works on one unit of work: what it changes and what is `publish`ed commit together, or not at all.
It refuses in domain errors only: no driver exception gets past it."""

from collections.abc import Iterable
from datetime import date
from typing import Protocol
from uuid import UUID

from plan_events import Event
from talent_card import domain


class Store(Protocol):
    def publish(self, *events: Event) -> None:
        """Send these events when the unit of work commits."""

    # --- plan route: a person's progress, whichever event came first ---------------------------------------

    async def senior_completed(self, person_id: str, completed_on: date) -> domain.PlanProgress: ...

    async def senior_subsidy_approved(self, person_id: str, subsidy_id: UUID) -> domain.PlanProgress:
        """An approval counts unless that very subsidy was already reported reversed (topics are separate)."""
        ...

    async def senior_subsidy_reversed(self, person_id: str, subsidy_id: UUID) -> domain.PlanProgress:
        """That subsidy no longer counts, now or when its approval arrives later."""
        ...

    # --- introduced route ------------------------------------------------------------------------------------

    async def add_talent(
        self, talent_id: UUID, person_id: str, id_masked: str, name: str, actor: str, key: str | None = None
    ) -> bool:
        """False when the person is registered already. Raises Invalid `idempotency_key_reused` when `key`
        registered another person."""
        ...

    async def talent_registered_with(self, key: str, person_id: str) -> UUID | None:
        """The talent a registration with this Idempotency-Key created for this person, if any."""
        ...

    async def talent(self, talent_id: UUID) -> domain.Talent | None: ...

    async def add_evidence(self, talent_id: UUID, evidence: domain.Evidence) -> None:
        """Stored as declared, whatever its status says."""
        ...

    async def evidence_of(self, talent_id: UUID) -> list[domain.Evidence]:
        """By when it was declared, then by id."""
        ...

    async def decide_evidence(
        self, talent_id: UUID, evidence_id: UUID, status: domain.EvidenceStatus, actor: str, note: str | None
    ) -> bool:
        """False when the talent has no such evidence."""
        ...

    # --- determinations and notices ------------------------------------------------------------------------

    async def record(self, determination: domain.Determination) -> None: ...

    async def determinations(self, person_id: str) -> list[domain.DeterminationRecord]:
        """Oldest first."""
        ...

    async def open_notice(self, notice_id: UUID, determination: domain.Determination, id_masked: str | None) -> bool:
        """A waiting notice; False when the person already has a notice (by either route): eligible once."""
        ...

    async def notice(self, notice_id: UUID, lock: bool = False) -> domain.Notice | None:
        """`lock`: no one else moves it until this unit of work ends."""
        ...

    async def notices(self, which: domain.NoticeFilter, limit: int, offset: int) -> list[domain.Notice]:
        """Oldest first."""
        ...

    async def notice_counts(self) -> list[domain.NoticeCount]:
        """By route, then status."""
        ...

    async def acknowledge(self, notice_id: UUID, actor: str) -> None: ...

    async def decide(
        self, notice_id: UUID, status: domain.NoticeStatus, actor: str, card_number: str | None, reason: str | None
    ) -> None:
        """Issued (with its card number) or declined (with the reason). Raises Conflict `card_number_in_use`
        when another notice has this card number."""
        ...

    async def record_reads(self, actor: str, route: str, people: Iterable[str]) -> None:
        """The audit of a read of these people's records (one row per distinct person)."""
        ...
