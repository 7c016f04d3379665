"""The talent-card store in memory: what the use cases need (talent_card.ports.Store), without a database.

It passes the same contract suite as the PostgreSQL store (tests/support/contracts/talent_card_store.py), so
the use-case tests on it (tests/unit/talent_card/test_use_cases.py) say what the service does."""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from uuid import UUID

from plan_events import EligibilityRoute, Event
from plan_runtime.errors import Conflict, Invalid
from talent_card import domain
from talent_card.ports import Store


@dataclass
class _Progress:
    completed_on: date | None = None
    subsidy_id: UUID | None = None
    reversed_id: UUID | None = None


@dataclass(frozen=True)
class _Evidence:
    item: domain.Evidence
    talent_id: UUID
    created_at: datetime


class FakeTalentCardStore:
    def __init__(self) -> None:
        self.published: list[Event] = []
        self.reads: list[tuple[str, str, str]] = []  # (actor, route, person_id): the audit of reads
        self._progress: dict[str, _Progress] = {}
        self._talents: dict[UUID, domain.Talent] = {}
        self._evidence: dict[UUID, _Evidence] = {}
        self._determinations: list[domain.DeterminationRecord] = []
        self._notices: dict[UUID, domain.Notice] = {}

    def publish(self, *events: Event) -> None:
        self.published.extend(events)

    # --- plan route ------------------------------------------------------------------------------

    async def senior_completed(self, person_id: str, completed_on: date) -> domain.PlanProgress:
        progress = self._progress.setdefault(person_id, _Progress())
        progress.completed_on = completed_on
        return self._plan(person_id)

    async def senior_subsidy_approved(self, person_id: str, subsidy_id: UUID) -> domain.PlanProgress:
        progress = self._progress.setdefault(person_id, _Progress())
        if progress.reversed_id != subsidy_id:
            progress.subsidy_id = subsidy_id
        return self._plan(person_id)

    async def senior_subsidy_reversed(self, person_id: str, subsidy_id: UUID) -> domain.PlanProgress:
        progress = self._progress.setdefault(person_id, _Progress())
        progress.reversed_id = subsidy_id
        if progress.subsidy_id == subsidy_id:
            progress.subsidy_id = None
        return self._plan(person_id)

    def _plan(self, person_id: str) -> domain.PlanProgress:
        progress = self._progress[person_id]
        return domain.PlanProgress(person_id, progress.completed_on, progress.subsidy_id)

    # --- introduced route ----------------------------------------------------------------------

    async def add_talent(
        self, talent_id: UUID, person_id: str, id_masked: str, name: str, actor: str, key: str | None = None
    ) -> bool:
        if any(t.person_id == person_id for t in self._talents.values()):
            return False
        if key is not None and any(t.registration_key == key for t in self._talents.values()):
            raise Invalid(
                "idempotency_key_reused", "this Idempotency-Key was used for a different request", "Idempotency-Key"
            )
        self._talents[talent_id] = domain.Talent(talent_id, person_id, id_masked, name, actor, _now(), key)
        return True

    async def talent_registered_with(self, key: str, person_id: str) -> UUID | None:
        return next(
            (t.id for t in self._talents.values() if t.registration_key == key and t.person_id == person_id), None
        )

    async def talent(self, talent_id: UUID) -> domain.Talent | None:
        return self._talents.get(talent_id)

    async def add_evidence(self, talent_id: UUID, evidence: domain.Evidence) -> None:
        assert talent_id in self._talents, "evidence of no talent (a foreign key refuses it)"
        declared = replace(evidence, status=domain.EvidenceStatus.DECLARED)
        self._evidence[evidence.id] = _Evidence(declared, talent_id, _now())

    async def evidence_of(self, talent_id: UUID) -> list[domain.Evidence]:
        mine = [e for e in self._evidence.values() if e.talent_id == talent_id]
        return [e.item for e in sorted(mine, key=lambda e: (e.created_at, e.item.id))]

    async def decide_evidence(
        self, talent_id: UUID, evidence_id: UUID, status: domain.EvidenceStatus, actor: str, note: str | None
    ) -> bool:
        found = self._evidence.get(evidence_id)
        if found is None or found.talent_id != talent_id:
            return False
        self._evidence[evidence_id] = replace(found, item=replace(found.item, status=status))
        return True

    # --- determinations and notices ------------------------------------------------------------

    async def record(self, determination: domain.Determination) -> None:
        d = determination
        self._determinations.append(
            domain.DeterminationRecord(
                len(self._determinations) + 1,
                d.person_id,
                d.route,
                d.rule_id,
                d.rule_version,
                d.eligible,
                list(d.evidence),
                d.explanation,
                _now(),
            )
        )

    async def determinations(self, person_id: str) -> list[domain.DeterminationRecord]:
        return [d for d in self._determinations if d.person_id == person_id]

    async def open_notice(self, notice_id: UUID, determination: domain.Determination, id_masked: str | None) -> bool:
        d = determination
        if any(n.person_id == d.person_id for n in self._notices.values()):
            return False
        self._notices[notice_id] = domain.Notice(
            notice_id,
            d.person_id,
            d.route,
            d.rule_id,
            d.rule_version,
            list(d.evidence),
            id_masked,
            domain.NoticeStatus.WAITING,
            None,
            None,
            _now(),
            None,
            None,
            None,
            None,
        )
        return True

    async def notice(self, notice_id: UUID, lock: bool = False) -> domain.Notice | None:
        return self._notices.get(notice_id)

    async def notices(self, which: domain.NoticeFilter, limit: int, offset: int) -> list[domain.Notice]:
        found = sorted((n for n in self._notices.values() if which.admits(n)), key=lambda n: (n.created_at, n.id))
        return found[offset : offset + limit]

    async def notice_counts(self) -> list[domain.NoticeCount]:
        counts: dict[tuple[EligibilityRoute, domain.NoticeStatus], int] = {}
        for n in self._notices.values():
            counts[n.route, n.status] = counts.get((n.route, n.status), 0) + 1
        return [domain.NoticeCount(route, status, count) for (route, status), count in sorted(counts.items())]

    async def acknowledge(self, notice_id: UUID, actor: str) -> None:
        if notice_id in self._notices:
            self._notices[notice_id] = replace(
                self._notices[notice_id],
                status=domain.NoticeStatus.ACKNOWLEDGED,
                acknowledged_by=actor,
                acknowledged_at=_now(),
            )

    async def decide(
        self, notice_id: UUID, status: domain.NoticeStatus, actor: str, card_number: str | None, reason: str | None
    ) -> None:
        if notice_id not in self._notices:
            return
        if card_number is not None and any(
            n.card_number == card_number and n.id != notice_id for n in self._notices.values()
        ):
            raise Conflict("card_number_in_use", f"card {card_number} was issued already", "card_number")
        self._notices[notice_id] = replace(
            self._notices[notice_id],
            status=status,
            decided_by=actor,
            decided_at=_now(),
            card_number=card_number,
            decline_reason=reason,
        )

    async def record_reads(self, actor: str, route: str, people: Iterable[str]) -> None:
        self.reads.extend((actor, route, person) for person in sorted(set(people)))


def _now() -> datetime:
    return datetime.now(UTC)


def _conforms(fake: FakeTalentCardStore) -> Store:
    return fake  # mypy: the fake has every method of the store protocol, with the same types
