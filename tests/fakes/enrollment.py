"""An in-memory enrollment store (enrollment.ports.Store) for the fast tier of use-case tests.

It keeps what the PostgreSQL store keeps and refuses what its constraints refuse (a taken institution name,
a second open enrolment of a person in a tier); tests/support/contracts/enrollment_store.py holds it to the
same behaviour as the real store.
"""

import contextlib
import copy
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from enrollment.domain import (
    Enrollment,
    EnrollmentStatus,
    History,
    Institution,
    InstitutionMode,
    InstitutionStatus,
    Raced,
)
from enrollment.ports import (
    ApiKey,
    AuditEntry,
    AuditNote,
    Completion,
    FlaggedDay,
    LegacyIdentity,
    Lock,
    NewEnrollment,
    NewTrainee,
    ProgressRow,
    Store,
    StoredAnswer,
    Withdrawal,
)
from plan_events import Event, Outcome, Tier
from plan_runtime.errors import Conflict

ASCII_MASK = re.compile(r"^[0-9]{6}\*{8}[0-9]{3}[0-9X]$")  # the legacy_identities view's test


@dataclass
class _Key:
    institution_id: UUID
    secret_sha256: str
    revoked: bool = False


@dataclass
class _State:
    institutions: dict[UUID, Institution] = field(default_factory=dict)
    keys: dict[UUID, _Key] = field(default_factory=dict)
    trainees: dict[str, tuple[NewTrainee, datetime]] = field(default_factory=dict)
    enrollments: dict[UUID, Enrollment] = field(default_factory=dict)
    audit_log: list[AuditEntry] = field(default_factory=list)
    reads: list[tuple[str, str, str]] = field(default_factory=list)
    intake: dict[tuple[UUID, date], tuple[int, int]] = field(default_factory=dict)
    answers: dict[tuple[str, str], StoredAnswer] = field(default_factory=dict)


class FakeStore:
    """One unit of work over in-memory state; `published` is what the use cases published."""

    def __init__(self) -> None:
        self.state = _State()
        self.published: list[Event] = []

    def publish(self, *events: Event) -> None:
        self.published.extend(events)

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        state, before = copy.deepcopy(self.state), len(self.published)
        try:
            yield
        except BaseException:
            self.state = state
            del self.published[before:]
            raise

    # --- institutions and keys ---------------------------------------------------------------

    async def add_institution(self, institution_id: UUID, name: str, mode: InstitutionMode) -> Institution:
        if any(i.name == name for i in self.state.institutions.values()):
            raise Conflict("institution_exists", f"an institution named {name!r} exists", "name")
        created = Institution(institution_id, name, mode, InstitutionStatus.ACTIVE, datetime.now(UTC))
        self.state.institutions[institution_id] = created
        return created

    async def institution(self, institution_id: UUID, lock: Lock = None) -> Institution | None:
        return self.state.institutions.get(institution_id)

    async def institutions(self) -> list[Institution]:
        return sorted(self.state.institutions.values(), key=lambda i: i.name)

    async def set_status(self, institution_id: UUID, status: InstitutionStatus) -> int:
        found = self.state.institutions[institution_id]
        self.state.institutions[institution_id] = replace(found, status=status, status_seq=found.status_seq + 1)
        return found.status_seq + 1

    async def add_key(self, key_id: UUID, institution_id: UUID, secret_sha256: str) -> None:
        self.state.keys[key_id] = _Key(institution_id, secret_sha256)

    async def key(self, key_id: UUID) -> ApiKey | None:
        found = self.state.keys.get(key_id)
        if found is None or found.revoked:
            return None
        status = self.state.institutions[found.institution_id].status
        return ApiKey(found.institution_id, found.secret_sha256, status)

    async def revoke_key(self, institution_id: UUID, key_id: UUID) -> bool:
        found = self.state.keys.get(key_id)
        if found is None or found.revoked or found.institution_id != institution_id:
            return False
        found.revoked = True
        return True

    # --- audit -------------------------------------------------------------------------------

    async def audit(self, *notes: AuditNote) -> None:
        log = self.state.audit_log
        for note in notes:
            log.append(AuditEntry(len(log) + 1, note.actor, note.action, note.subject, note.reason, datetime.now(UTC)))

    async def audit_entries(self, action: str, limit: int, offset: int) -> list[AuditEntry]:
        return [e for e in reversed(self.state.audit_log) if e.action == action][offset : offset + limit]

    async def record_reads(self, actor: str, route: str, people: Sequence[str]) -> None:
        self.state.reads.extend((actor, route, person) for person in sorted(set(people)))

    async def count_intake(self, institution_id: UUID, day: date, rows: int, refused: int) -> None:
        before = self.state.intake.get((institution_id, day), (0, 0))
        self.state.intake[institution_id, day] = (before[0] + rows, before[1] + refused)

    async def flagged(self, share: float, min_rows: int, since: date) -> list[FlaggedDay]:
        found = [
            FlaggedDay(
                institution_id,
                self.state.institutions[institution_id].name,
                self.state.institutions[institution_id].status,
                day,
                rows,
                refused,
                round(refused / rows, 4),
            )
            for (institution_id, day), (rows, refused) in self.state.intake.items()
            if day >= since and rows >= min_rows and refused > rows * share
        ]
        return sorted(found, key=lambda f: (-f.day.toordinal(), -f.refused_share, f.name))

    async def legacy_identities(self, limit: int, offset: int = 0) -> list[LegacyIdentity]:
        legacy = sorted(
            (
                LegacyIdentity(t.trainee_id, t.id_masked, t.birth_date, at)
                for t, at in self.state.trainees.values()
                if not ASCII_MASK.match(t.id_masked)
            ),
            key=lambda e: (e.created_at, e.trainee_id),
        )
        return legacy[offset : offset + limit]

    # --- trainees and enrolments -------------------------------------------------------------

    async def histories(self, trainee_ids: Sequence[str]) -> dict[str, History]:
        found = {t: History() for t in trainee_ids}
        for e in self.state.enrollments.values():
            if e.trainee_id not in found:
                continue
            if e.status == EnrollmentStatus.OPEN:
                found[e.trainee_id].open[e.tier] = e.institution_id
            elif e.status == EnrollmentStatus.COMPLETED and e.passed:
                found[e.trainee_id].passed.add(e.tier)
        return found

    async def add_trainees(self, trainees: Sequence[NewTrainee]) -> None:
        now = datetime.now(UTC)
        for trainee in trainees:
            self.state.trainees.setdefault(trainee.trainee_id, (trainee, now))

    async def record_intake(
        self,
        trainees: Sequence[NewTrainee],
        enrollments: Sequence[NewEnrollment],
        notes: Sequence[AuditNote],
        count: tuple[UUID, date, int, int],
    ) -> None:
        await self.add_trainees(trainees)
        await self.add_enrollments(enrollments)
        await self.audit(*notes)
        await self.count_intake(*count)

    async def add_enrollments(self, enrollments: Sequence[NewEnrollment]) -> None:
        now = datetime.now(UTC)
        taken = {(e.trainee_id, e.tier) for e in self.state.enrollments.values() if e.status == EnrollmentStatus.OPEN}
        for new in enrollments:  # all or nothing, as one COPY
            if (new.trainee_id, new.tier) in taken:
                raise Raced()
            taken.add((new.trainee_id, new.tier))
        for new in enrollments:
            self.state.enrollments[new.id] = Enrollment(
                id=new.id,
                trainee_id=new.trainee_id,
                id_masked=self.state.trainees[new.trainee_id][0].id_masked,
                institution_id=new.institution_id,
                tier=new.tier,
                target_group=new.target_group,
                mode=new.mode,
                starts_on=new.starts_on,
                niche=new.niche,
                status=EnrollmentStatus.OPEN,
                completed_on=None,
                passed=None,
                outcome=None,
                withdrawn_reason=None,
                policy_version=new.policy_version,
                created_at=now,
            )

    async def enrollment(self, enrollment_id: UUID, institution_id: UUID, lock: bool = False) -> Enrollment | None:
        found = self.state.enrollments.get(enrollment_id)
        return found if found is not None and found.institution_id == institution_id else None

    async def enrollments(
        self, institution_id: UUID, status: EnrollmentStatus | None, tier: Tier | None, limit: int, offset: int
    ) -> list[Enrollment]:
        found = sorted(
            (
                e
                for e in self.state.enrollments.values()
                if e.institution_id == institution_id
                and (status is None or e.status == status)
                and (tier is None or e.tier == tier)
            ),
            key=lambda e: (e.created_at, e.id),
        )
        return found[offset : offset + limit]

    async def enrollments_by_id(
        self, ids: Sequence[UUID], institution_id: UUID, lock: bool = False
    ) -> dict[UUID, Enrollment]:
        return {i: e for i in ids if (e := await self.enrollment(i, institution_id)) is not None}

    async def complete(self, completions: Sequence[Completion]) -> None:
        for c in completions:
            self._change(
                c.enrollment_id,
                status=EnrollmentStatus.COMPLETED,
                completed_on=c.completed_on,
                passed=c.passed,
                outcome=c.outcome,
            )

    async def set_outcome(self, enrollment_id: UUID, outcome: Outcome) -> None:
        self._change(enrollment_id, outcome=outcome)

    async def withdraw(self, withdrawals: Sequence[Withdrawal], notes: Sequence[AuditNote]) -> None:
        for w in withdrawals:
            self._change(w.enrollment_id, status=EnrollmentStatus.WITHDRAWN, withdrawn_reason=w.reason)
        await self.audit(*notes)

    def _change(self, enrollment_id: UUID, **changes: Any) -> None:
        found = self.state.enrollments.get(enrollment_id)
        if found is not None:
            self.state.enrollments[enrollment_id] = replace(found, **changes)

    # --- idempotency -------------------------------------------------------------------------

    async def claim_idempotency_key(self, principal: str, key: str, request_hash: str) -> StoredAnswer | None:
        first = self.state.answers.get((principal, key))
        if first is None:
            self.state.answers[principal, key] = StoredAnswer(request_hash, 0, None)
        return first

    async def remember_response(self, principal: str, key: str, status: int, body: Any) -> None:
        held = self.state.answers[principal, key]
        self.state.answers[principal, key] = replace(held, status_code=status, body=copy.deepcopy(body))

    # --- progress ----------------------------------------------------------------------------

    async def progress(self) -> list[ProgressRow]:
        """The grouping sets of the real query: (tier) alone, and tier with each dimension."""
        dimensions: dict[str, Any] = {
            "start_year": lambda e: e.starts_on.year,
            "completion_year": lambda e: e.completed_on.year if e.completed_on else None,
            "target_group": lambda e: e.target_group.value,
            "institution_id": lambda e: e.institution_id,
        }
        grouping = {None: 15, "start_year": 13, "completion_year": 14, "target_group": 7, "institution_id": 11}
        groups: dict[tuple[Tier, str | None, Any], list[Enrollment]] = {}
        for e in self.state.enrollments.values():
            groups.setdefault((e.tier, None, None), []).append(e)
            for dimension, of in dimensions.items():
                groups.setdefault((e.tier, dimension, of(e)), []).append(e)
        rows = []
        for (tier, name, value), members in groups.items():
            by = {d: (value if d == name else None) for d in dimensions}
            rows.append(
                ProgressRow(
                    tier=tier,
                    grouping=grouping[name],
                    enrolled=len(members),
                    open=sum(e.status == EnrollmentStatus.OPEN for e in members),
                    completed=sum(e.status == EnrollmentStatus.COMPLETED and bool(e.passed) for e in members),
                    failed=sum(e.status == EnrollmentStatus.COMPLETED and e.passed is False for e in members),
                    withdrawn=sum(e.status == EnrollmentStatus.WITHDRAWN for e in members),
                    employed=sum(bool(e.passed) and e.outcome == Outcome.EMPLOYED for e in members),
                    own_business=sum(bool(e.passed) and e.outcome == Outcome.OWN_BUSINESS for e in members),
                    **by,
                )
            )
        return sorted(rows, key=lambda r: list(Tier).index(r.tier))


def _conforms(store: FakeStore) -> Store:
    return store  # mypy checks here that the fake is a `Store`
