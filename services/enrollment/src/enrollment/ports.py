"""What the use cases need of storage: the `Store` protocol and the typed rows that cross it.

Two implementations pass one contract suite (tests/support/contracts/enrollment_store.py): the PostgreSQL
store (store.py, on the unit of work's transaction) and the in-memory fake (tests/fakes/enrollment.py).
A store refuses in the domain's words (`Conflict`, `Raced`), never with a driver exception.
"""

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from enrollment.domain import Enrollment, EnrollmentStatus, History, Institution, InstitutionMode, InstitutionStatus
from plan_events import Event, Mode, Outcome, TargetGroup, Tier

Lock = Literal["share", "update"] | None
"""An institution read "share" waits out a status change (and a status change waits for it); "update" is one."""


@dataclass(frozen=True)
class ApiKey:
    """An unrevoked institution key: whose, its hash, and its institution's status."""

    institution_id: UUID
    secret_sha256: str
    status: InstitutionStatus


@dataclass(frozen=True)
class NewTrainee:
    """A person pseudonymised: a known person keeps their first record."""

    trainee_id: str
    id_hash: str
    id_masked: str
    name: str
    phone: str
    birth_date: date


@dataclass(frozen=True)
class NewEnrollment:
    """An accepted enrolment, written open."""

    id: UUID
    trainee_id: str
    institution_id: UUID
    tier: Tier
    target_group: TargetGroup
    mode: Mode
    starts_on: date
    niche: str | None
    policy_version: str


@dataclass(frozen=True)
class Completion:
    enrollment_id: UUID
    completed_on: date
    passed: bool
    outcome: Outcome | None


@dataclass(frozen=True)
class Withdrawal:
    enrollment_id: UUID
    reason: str


@dataclass(frozen=True)
class AuditNote:
    """One line for the audit log."""

    actor: str
    action: str
    subject: str
    reason: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    actor: str
    action: str
    subject: str
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class FlaggedDay:
    institution_id: UUID
    name: str
    status: InstitutionStatus
    day: date
    rows: int
    refused: int
    refused_share: float


@dataclass(frozen=True)
class LegacyIdentity:
    trainee_id: str
    id_masked: str
    birth_date: date
    created_at: datetime


@dataclass(frozen=True)
class StoredAnswer:
    """The first answer to a request with an Idempotency-Key (status 0 until it is known)."""

    request_hash: str
    status_code: int
    body: Any


@dataclass(frozen=True)
class ProgressRow:
    """Counts for one grouping set: the tier alone (`grouping` 15) or crossed with one dimension."""

    tier: Tier
    target_group: str | None
    institution_id: UUID | None
    start_year: int | None
    completion_year: int | None
    grouping: int
    enrolled: int
    open: int
    completed: int
    failed: int
    withdrawn: int
    employed: int
    own_business: int


class Store(Protocol):
    """The enrollment schema as one unit of work: reads and writes on one transaction, events to publish."""

    def publish(self, *events: Event) -> None: ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """What is written (and published) inside is undone if it raises; the rest of the unit stays."""
        ...

    # institutions and keys
    async def add_institution(self, institution_id: UUID, name: str, mode: InstitutionMode) -> Institution:
        """Conflict `institution_exists` if the name is taken."""
        ...

    async def institution(self, institution_id: UUID, lock: Lock = None) -> Institution | None: ...
    async def institutions(self) -> list[Institution]: ...
    async def set_status(self, institution_id: UUID, status: InstitutionStatus) -> int:
        """The new status; returns its sequence number (one more than the last change's)."""
        ...

    async def add_key(self, key_id: UUID, institution_id: UUID, secret_sha256: str) -> None: ...
    async def key(self, key_id: UUID) -> ApiKey | None: ...
    async def revoke_key(self, institution_id: UUID, key_id: UUID) -> bool:
        """False if the institution has no such unrevoked key."""
        ...

    # audit
    async def audit(self, *notes: AuditNote) -> None: ...
    async def audit_entries(self, action: str, limit: int, offset: int) -> list[AuditEntry]:
        """Newest first."""
        ...

    async def record_reads(self, actor: str, route: str, people: Sequence[str]) -> None:
        """The read audit: who was shown whose record (one row per distinct person)."""
        ...

    async def count_intake(self, institution_id: UUID, day: date, rows: int, refused: int) -> None: ...
    async def flagged(self, share: float, min_rows: int, since: date) -> list[FlaggedDay]:
        """Institution-days whose refused share of rows is over `share`, out of at least `min_rows` rows."""
        ...

    async def legacy_identities(self, limit: int, offset: int = 0) -> list[LegacyIdentity]: ...

    # trainees and enrolments
    async def histories(self, trainee_ids: Sequence[str]) -> dict[str, History]: ...
    async def add_trainees(self, trainees: Sequence[NewTrainee]) -> None: ...
    async def add_enrollments(self, enrollments: Sequence[NewEnrollment]) -> None:
        """`Raced` if a person would have two open enrolments (or passes) of one tier."""
        ...

    async def record_intake(
        self,
        trainees: Sequence[NewTrainee],
        enrollments: Sequence[NewEnrollment],
        notes: Sequence[AuditNote],
        count: tuple[UUID, date, int, int],
    ) -> None:
        """What an enrolment request writes, as `add_trainees`, `add_enrollments` (`Raced`), `audit` and
        `count_intake` (institution, day, rows, refused) would: a few rows in one round trip."""
        ...

    async def enrollment(self, enrollment_id: UUID, institution_id: UUID, lock: bool = False) -> Enrollment | None:
        """Only the institution's own enrolments: another's is simply not found."""
        ...

    async def enrollments(
        self, institution_id: UUID, status: EnrollmentStatus | None, tier: Tier | None, limit: int, offset: int
    ) -> list[Enrollment]: ...
    async def enrollments_by_id(
        self, ids: Sequence[UUID], institution_id: UUID, lock: bool = False
    ) -> dict[UUID, Enrollment]: ...
    async def complete(self, completions: Sequence[Completion]) -> None: ...
    async def set_outcome(self, enrollment_id: UUID, outcome: Outcome) -> None: ...
    async def withdraw(self, withdrawals: Sequence[Withdrawal], notes: Sequence[AuditNote]) -> None:
        """The withdrawals and their audit notes together, as `audit(*notes)` would (one round trip for all)."""
        ...

    # idempotency
    async def claim_idempotency_key(self, principal: str, key: str, request_hash: str) -> StoredAnswer | None:
        """None if the key is new (and now held by this unit); else the first request's record."""
        ...

    async def remember_response(self, principal: str, key: str, status: int, body: Any) -> None: ...

    # progress
    async def progress(self) -> list[ProgressRow]: ...
