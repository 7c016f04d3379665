"""Use cases: short scripts that open a transaction, decide with the pure rules, save, and emit."""

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from enrollment.cohort import RowError
from enrollment.domain import (
    REVEALING,
    Refusal,
    decide_completion,
    decide_dates,
    decide_enrolment,
    decide_withdrawal,
)
from enrollment.policy import Policy
from enrollment.requests import CompletionItem, EnrolRequest
from enrollment.store import EnrollmentStore
from plan_events import (
    EnrollmentWithdrawn,
    InstitutionReinstated,
    InstitutionSuspended,
    Outcome,
    TierCompleted,
    TraineeEnrolled,
)
from plan_events.calendar import plan_today
from plan_events.identity import birth_date, pseudonymise
from plan_runtime import Connection, emit
from plan_runtime.errors import ApiError

SOURCE = "enrollment"


@dataclass(frozen=True)
class RowResult:
    row: int
    accepted: bool
    enrollment_id: UUID | None = None
    trainee_id: str | None = None
    error: dict[str, Any] | None = None


def refused(refusal: Refusal) -> ApiError:
    return ApiError(refusal.status, refusal.code, refusal.message, refusal.field)


async def enrol(
    conn: Connection, institution_id: UUID, rows: Sequence[EnrolRequest | RowError], policy: Policy, pii_key: bytes
) -> list[RowResult]:
    """Enrol a cohort (one row is a cohort of one): every row is decided, good rows are all written.

    One transaction for the whole cohort: trainees, enrolments and their events together. If another
    upload races us to the same person, the unique index refuses our write and we decide again.
    """
    for attempt in range(3):
        try:
            async with conn.transaction():
                return await _enrol_once(conn, institution_id, rows, policy, pii_key)
        except asyncpg.UniqueViolationError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _enrol_once(
    conn: Connection, institution_id: UUID, rows: Sequence[EnrolRequest | RowError], policy: Policy, pii_key: bytes
) -> list[RowResult]:
    store = EnrollmentStore(conn)
    standing = await store.institution(institution_id, lock="SHARE")  # a suspension waits for this cohort
    if standing is None or standing["status"] != "active":
        raise ApiError(403, "institution_suspended", "the institution is suspended and cannot enrol", "institution")
    people = {i: pseudonymise(r.id_number, pii_key) for i, r in enumerate(rows) if isinstance(r, EnrolRequest)}
    histories = await store.histories([p.trainee_id for p in people.values()])
    now, today = datetime.now(UTC), plan_today()
    caller = f"institution:{institution_id}"
    results: list[RowResult] = []
    trainees, enrolments, events, lookups = [], [], [], []
    for index, row in enumerate(rows):
        if isinstance(row, RowError):
            results.append(RowResult(row.row, False, error=row.error()))
            continue
        person = people[index]
        born = birth_date(row.id_number)  # the field is already in canonical form
        refusal = decide_dates(row.starts_on, born, policy, today) or decide_enrolment(
            row.tier, institution_id, histories[person.trainee_id]
        )
        if refusal is not None:  # never the person's id: a refusal must not confirm who they are
            results.append(RowResult(index + 1, False, error=_error(refusal)))
            if refusal.code in REVEALING:
                lookups.append((caller, "identity_lookup", person.trainee_id, f"{row.tier}: {refusal.code}"))
            continue
        histories[person.trainee_id].enrol(row.tier, institution_id)
        if row.tier.prerequisite is not None:  # accepting it reveals a passed course, perhaps elsewhere
            lookups.append((caller, "identity_lookup", person.trainee_id, f"{row.tier}: accepted"))
        enrollment_id = uuid4()
        trainees.append((person.trainee_id, person.id_hash, person.masked, row.name, row.phone, born))
        enrolments.append(
            (
                enrollment_id,
                person.trainee_id,
                institution_id,
                row.tier.value,
                row.target_group.value,
                row.mode.value,
                row.starts_on,
                row.niche,
                policy.version,
            )
        )
        events.append(
            TraineeEnrolled.create(
                source=SOURCE,
                subject=person.trainee_id,
                occurred_at=now,
                enrollment_id=enrollment_id,
                trainee_id=person.trainee_id,
                institution_id=institution_id,
                tier=row.tier,
                target_group=row.target_group,
                mode=row.mode,
                starts_on=row.starts_on,
                niche=row.niche,
            )
        )
        results.append(RowResult(index + 1, True, enrollment_id, person.trainee_id))
    await store.add_trainees(trainees)
    await store.add_enrollments(enrolments)
    await store.audit_many(lookups)
    await store.count_intake(institution_id, today, len(results), sum(not r.accepted for r in results))
    await emit(conn, events)
    return results


async def complete(
    conn: Connection, institution_id: UUID, items: Sequence[CompletionItem | RowError], policy: Policy
) -> list[RowResult]:
    """Record finished courses (one is a batch of one): each row decided, the good ones written and announced."""
    async with conn.transaction():
        store = EnrollmentStore(conn)
        # FOR SHARE: a suspension waits for this transaction, so every completion carries the status it had
        standing = await store.institution(institution_id, lock="SHARE")
        assert standing is not None, "the caller's key belongs to an institution"
        wanted = [i.enrollment_id for i in items if isinstance(i, CompletionItem)]
        found = await store.enrollments_by_id(wanted, institution_id, lock=True)
        now, today = datetime.now(UTC), plan_today()
        results: list[RowResult] = []
        updates, events = [], []
        for number, item in enumerate(items, start=1):
            if isinstance(item, RowError):
                results.append(RowResult(item.row, False, error=item.error()))
                continue
            enrolment = found.get(item.enrollment_id)
            refusal = (
                Refusal(
                    "enrollment_not_found",
                    "enrollment_id",
                    f"no enrolment {item.enrollment_id} at this institution",
                    404,
                )
                if enrolment is None
                else decide_completion(enrolment["status"], enrolment["starts_on"], item.completed_on, policy, today)
            )
            if refusal is not None or enrolment is None:
                results.append(RowResult(number, False, item.enrollment_id, error=_error(refusal)))
                continue
            enrolment["status"] = "completed"  # a second row for the same enrolment is refused
            outcome = item.outcome.value if item.outcome else None
            updates.append((item.enrollment_id, item.completed_on, item.passed, outcome))
            events.append(
                TierCompleted.create(
                    source=SOURCE,
                    subject=enrolment["trainee_id"],
                    occurred_at=now,
                    enrollment_id=item.enrollment_id,
                    trainee_id=enrolment["trainee_id"],
                    institution_id=institution_id,
                    tier=enrolment["tier"],
                    target_group=enrolment["target_group"],
                    completed_on=item.completed_on,
                    passed=item.passed,
                    outcome=item.outcome,
                    institution_status=standing["status"],
                    institution_status_seq=standing["status_seq"],
                )
            )
            results.append(RowResult(number, True, item.enrollment_id, enrolment["trainee_id"]))
        await store.complete(updates)
        await emit(conn, events)
        return results


def _error(refusal: Refusal | None) -> dict[str, Any]:
    assert refusal is not None
    return {"code": refusal.code, "field": refusal.field, "message": refusal.message, "status": refusal.status}


async def report_outcome(
    conn: Connection, institution_id: UUID, enrollment_id: UUID, outcome: Outcome
) -> dict[str, Any]:
    async with conn.transaction():
        store = EnrollmentStore(conn)
        found = await _own(store, institution_id, enrollment_id)
        if found["status"] != "completed":
            raise ApiError(409, "enrollment_not_completed", "an outcome follows a completed course", "enrollment_id")
        await store.set_outcome(enrollment_id, outcome.value)
        return {**found, "outcome": outcome.value}


async def withdraw(
    conn: Connection, institution_id: UUID, enrollment_id: UUID, reason: str, actor: str
) -> dict[str, Any]:
    async with conn.transaction():
        store = EnrollmentStore(conn)
        found = await _own(store, institution_id, enrollment_id)
        refusal = decide_withdrawal(found["status"])
        if refusal:
            raise refused(refusal)
        await store.withdraw(enrollment_id, reason)
        await store.audit(actor, "withdraw", str(enrollment_id), reason)
        await emit(
            conn,
            [
                EnrollmentWithdrawn.create(
                    source=SOURCE,
                    subject=found["trainee_id"],
                    occurred_at=datetime.now(UTC),
                    enrollment_id=enrollment_id,
                    trainee_id=found["trainee_id"],
                    institution_id=institution_id,
                    tier=found["tier"],
                    reason=reason,
                )
            ],
        )
        return {**found, "status": "withdrawn", "withdrawn_reason": reason}


async def _own(store: EnrollmentStore, institution_id: UUID, enrollment_id: UUID) -> dict[str, Any]:
    found = await store.enrollment(enrollment_id, institution_id, lock=True)
    if found is None:  # another institution's enrolment is not found either: no leak
        raise ApiError(
            404, "enrollment_not_found", f"no enrolment {enrollment_id} at this institution", "enrollment_id"
        )
    return found


# --- the Bureau's administration -------------------------------------------------------------


async def issue_key(conn: Connection, institution_id: UUID, actor: str) -> str:
    """A new key for the institution, shown once: `inst_<key id>_<secret>`; only a hash is kept."""
    async with conn.transaction():
        store = EnrollmentStore(conn)
        if await store.institution(institution_id) is None:
            raise ApiError(404, "institution_not_found", f"no institution {institution_id}", "institution_id")
        key_id, secret = uuid4(), secrets.token_urlsafe(32)
        await store.add_key(key_id, institution_id, hashlib.sha256(secret.encode()).hexdigest())
        await store.audit(actor, "issue_key", f"{institution_id}/{key_id}")
        return f"inst_{key_id.hex}_{secret}"


async def change_status(conn: Connection, institution_id: UUID, status: str, actor: str, reason: str) -> dict[str, Any]:
    """Suspend or reinstate, announced on Kafka in the same transaction; asking for the current status is a no-op."""
    async with conn.transaction():
        store = EnrollmentStore(conn)
        found = await store.institution(institution_id, lock="UPDATE")
        if found is None:
            raise ApiError(404, "institution_not_found", f"no institution {institution_id}", "institution_id")
        if found["status"] == status:
            return found
        seq = await store.set_status(institution_id, status)
        await store.audit(actor, status, str(institution_id), reason)
        kind = InstitutionSuspended if status == "suspended" else InstitutionReinstated
        await emit(
            conn,
            [
                kind.create(
                    source=SOURCE,
                    subject=str(institution_id),
                    occurred_at=datetime.now(UTC),
                    institution_id=institution_id,
                    status_seq=seq,
                    reason=reason,
                )
            ],
        )
        return {**found, "status": status, "status_seq": seq}
