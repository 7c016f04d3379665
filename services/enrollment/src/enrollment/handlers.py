"""Use cases: short scripts on a store (ports.Store) — read, decide with the pure rules, save, publish.

A use case never opens a transaction or builds its store: it is given one (the PostgreSQL store on the
unit of work's transaction, or the in-memory fake in the unit tests). It refuses by raising a domain error.
"""

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID, uuid4

from enrollment.cohort import RowError
from enrollment.domain import (
    REVEALING,
    Enrollment,
    EnrollmentStatus,
    Institution,
    InstitutionMode,
    InstitutionStatus,
    Raced,
    decide_completion,
    decide_dates,
    decide_enrolment,
    decide_outcome,
    decide_standing,
    decide_status_change,
    decide_withdrawal,
    enrollment_not_found,
    institution_not_found,
)
from enrollment.policy import Policy
from enrollment.ports import AuditNote, Completion, LegacyIdentity, NewEnrollment, NewTrainee, Store, Withdrawal
from enrollment.requests import CompletionItem, EnrolRequest, WithdrawalItem
from plan_events import (
    EnrollmentWithdrawn,
    InstitutionReinstated,
    InstitutionSuspended,
    Outcome,
    OutcomeReported,
    Tier,
    TierCompleted,
    TraineeEnrolled,
)
from plan_events.calendar import plan_today
from plan_events.identity import Pseudonym, birth_date, pseudonymise
from plan_events.ids import new_id
from plan_runtime.errors import DomainError, NotFound

SOURCE = "enrollment"
ATTEMPTS = 3  # a cohort raced by another upload to the same person is decided again, at most this often


@dataclass(frozen=True)
class RowResult:
    """One row's verdict in a bulk use case: accepted, or refused with its domain error."""

    row: int
    accepted: bool
    enrollment_id: UUID | None = None
    trainee_id: str | None = None
    error: DomainError | None = None


def _pseudonyms(numbers: Sequence[str], key: bytes) -> list[Pseudonym]:
    """`pseudonymise` of numbers the request model already put in canonical form (`IdNumber`): the same keyed
    hash of the same text, without parsing and checking each number a second time (that was a third of a
    cohort's rules). The first number also goes through `pseudonymise` itself: the two can never drift apart."""
    found = []
    for number in numbers:
        digest = hmac.new(key, number.encode(), hashlib.sha256).hexdigest()
        found.append(Pseudonym(f"tr-{digest[:24]}", digest, f"{number[:6]}********{number[14:]}"))
    if found and pseudonymise(numbers[0], key) != found[0]:
        raise AssertionError("the pseudonym of a canonical ID number differs from plan_events.identity's")
    return found


def only(results: list[RowResult]) -> RowResult:
    """The single-row form of a bulk use case: a refused row is the request's refusal."""
    [result] = results
    if result.error is not None:
        raise result.error
    return result


# --- institutions: enrolments ----------------------------------------------------------------


async def enrol(
    store: Store, institution_id: UUID, rows: Sequence[EnrolRequest | RowError], policy: Policy, pii_key: bytes
) -> list[RowResult]:
    """Enrol a cohort (one row is a cohort of one): every row is decided, good rows are all written.

    Trainees, enrolments and their events together. If another upload races us to the same person, the
    unique index refuses our write (`Raced`) and we decide again.
    """
    for attempt in range(ATTEMPTS):
        try:
            async with store.savepoint():
                return await _enrol_once(store, institution_id, rows, policy, pii_key)
        except Raced:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


async def _enrol_once(
    store: Store, institution_id: UUID, rows: Sequence[EnrolRequest | RowError], policy: Policy, pii_key: bytes
) -> list[RowResult]:
    refusal = decide_standing(await store.institution(institution_id, lock="share"))  # a suspension waits
    if refusal is not None:
        raise refusal
    valid = [i for i, r in enumerate(rows) if isinstance(r, EnrolRequest)]
    numbers = [rows[i].id_number for i in valid]  # type: ignore[union-attr]
    people = dict(zip(valid, _pseudonyms(numbers, pii_key), strict=True))
    histories = await store.histories([p.trainee_id for p in people.values()])
    now, today = datetime.now(UTC), plan_today()
    caller = f"institution:{institution_id}"
    results: list[RowResult] = []
    trainees: list[NewTrainee] = []
    enrolments: list[NewEnrollment] = []
    events: list[TraineeEnrolled] = []
    lookups: list[AuditNote] = []
    for index, row in enumerate(rows):
        if isinstance(row, RowError):
            results.append(RowResult(row.row, False, error=row.refusal()))
            continue
        person = people[index]
        born = birth_date(row.id_number)  # the field is already in canonical form
        refusal = decide_dates(row.starts_on, born, policy, today) or decide_enrolment(
            row.tier, institution_id, histories[person.trainee_id]
        )
        if refusal is not None:  # never the person's id: a refusal must not confirm who they are
            results.append(RowResult(index + 1, False, error=refusal))
            if refusal.code in REVEALING:
                lookups.append(AuditNote(caller, "identity_lookup", person.trainee_id, f"{row.tier}: {refusal.code}"))
            continue
        histories[person.trainee_id].enrol(row.tier, institution_id)
        if _PREREQUISITE[row.tier] is not None:  # accepting it reveals a passed course, perhaps elsewhere
            lookups.append(AuditNote(caller, "identity_lookup", person.trainee_id, f"{row.tier}: accepted"))
        enrolment = NewEnrollment(
            id=new_id(),
            trainee_id=person.trainee_id,
            institution_id=institution_id,
            tier=row.tier,
            target_group=row.target_group,
            mode=row.mode,
            starts_on=row.starts_on,
            niche=row.niche,
            policy_version=policy.version,
        )
        trainees.append(NewTrainee(person.trainee_id, person.id_hash, person.masked, row.name, row.phone, born))
        enrolments.append(enrolment)
        events.append(
            TraineeEnrolled.create(
                source=SOURCE,
                subject=person.trainee_id,
                occurred_at=now,
                enrollment_id=enrolment.id,
                trainee_id=person.trainee_id,
                institution_id=institution_id,
                tier=row.tier,
                target_group=row.target_group,
                mode=row.mode,
                starts_on=row.starts_on,
                niche=row.niche,
                # its only free text is the request's (niche, checked by RequestBody); the rest is the pseudonym,
                # constants and enums
                text_checked=True,
            )
        )
        results.append(RowResult(index + 1, True, enrolment.id, person.trainee_id))
    refused = sum(not r.accepted for r in results)
    await store.record_intake(trainees, enrolments, lookups, (institution_id, today, len(results), refused))
    store.publish(*events)
    return results


_PREREQUISITE = {tier: tier.prerequisite for tier in Tier}


async def complete(
    store: Store, institution_id: UUID, items: Sequence[CompletionItem | RowError], policy: Policy
) -> list[RowResult]:
    """Record finished courses (one is a batch of one): each row decided, the good ones written and announced."""
    # a share lock: a suspension waits for this unit, so every completion carries the status it had
    standing = await store.institution(institution_id, lock="share")
    assert standing is not None, "the caller's key belongs to an institution"
    wanted = [i.enrollment_id for i in items if isinstance(i, CompletionItem)]
    found = await store.enrollments_by_id(wanted, institution_id, lock=True)
    now, today = datetime.now(UTC), plan_today()
    results: list[RowResult] = []
    completions: list[Completion] = []
    done: set[UUID] = set()  # completed by an earlier row: a second row for the same enrolment is refused
    for number, item in enumerate(items, start=1):
        if isinstance(item, RowError):
            results.append(RowResult(item.row, False, error=item.refusal()))
            continue
        enrolment = found.get(item.enrollment_id)
        refusal = (
            enrollment_not_found(item.enrollment_id)
            if enrolment is None
            else decide_completion(
                EnrollmentStatus.COMPLETED if item.enrollment_id in done else enrolment.status,
                enrolment.starts_on,
                item.completed_on,
                policy,
                today,
            )
        )
        if refusal is not None or enrolment is None:
            results.append(RowResult(number, False, item.enrollment_id, error=refusal))
            continue
        done.add(item.enrollment_id)
        completions.append(Completion(item.enrollment_id, item.completed_on, item.passed, item.outcome))
        store.publish(
            TierCompleted.create(
                source=SOURCE,
                subject=enrolment.trainee_id,
                occurred_at=now,
                enrollment_id=item.enrollment_id,
                trainee_id=enrolment.trainee_id,
                institution_id=institution_id,
                tier=enrolment.tier,
                target_group=enrolment.target_group,
                completed_on=item.completed_on,
                passed=item.passed,
                outcome=item.outcome,
                institution_status=standing.status.value,
                institution_status_seq=standing.status_seq,
            )
        )
        results.append(RowResult(number, True, item.enrollment_id, enrolment.trainee_id))
    await store.complete(completions)
    return results


async def report_outcome(store: Store, institution_id: UUID, enrollment_id: UUID, outcome: Outcome) -> Enrollment:
    found = await _own(store, institution_id, enrollment_id)
    refusal = decide_outcome(found.status)
    if refusal is not None:
        raise refusal
    await store.set_outcome(enrollment_id, outcome)
    store.publish(  # the Bureau's and the portal's employment figures follow a later report or correction
        OutcomeReported.create(
            source=SOURCE,
            subject=found.trainee_id,
            occurred_at=datetime.now(UTC),
            enrollment_id=enrollment_id,
            trainee_id=found.trainee_id,
            institution_id=institution_id,
            tier=found.tier,
            outcome=outcome,
        )
    )
    return replace(found, outcome=outcome)


async def withdraw(
    store: Store, institution_id: UUID, items: Sequence[WithdrawalItem | RowError], actor: str
) -> list[RowResult]:
    """Withdraw open enrolments (one is a batch of one): each row decided, the good ones written, audited and
    announced together."""
    wanted = [i.enrollment_id for i in items if isinstance(i, WithdrawalItem)]
    found = await store.enrollments_by_id(wanted, institution_id, lock=True)
    now = datetime.now(UTC)
    results: list[RowResult] = []
    withdrawals: list[Withdrawal] = []
    notes: list[AuditNote] = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, RowError):
            results.append(RowResult(item.row, False, error=item.refusal()))
            continue
        enrolment = found.get(item.enrollment_id)
        if enrolment is None:
            results.append(RowResult(number, False, item.enrollment_id, error=enrollment_not_found(item.enrollment_id)))
            continue
        refusal = decide_withdrawal(enrolment.status)
        if refusal is not None:
            results.append(RowResult(number, False, item.enrollment_id, error=refusal))
            continue
        found[item.enrollment_id] = replace(enrolment, status=EnrollmentStatus.WITHDRAWN)  # a second row: refused
        withdrawals.append(Withdrawal(item.enrollment_id, item.reason))
        notes.append(AuditNote(actor, "withdraw", str(item.enrollment_id), item.reason))
        store.publish(
            EnrollmentWithdrawn.create(
                source=SOURCE,
                subject=enrolment.trainee_id,
                occurred_at=now,
                enrollment_id=item.enrollment_id,
                trainee_id=enrolment.trainee_id,
                institution_id=institution_id,
                tier=enrolment.tier,
                reason=item.reason,
            )
        )
        results.append(RowResult(number, True, item.enrollment_id, enrolment.trainee_id))
    await store.withdraw(withdrawals, notes)
    return results


async def _own(store: Store, institution_id: UUID, enrollment_id: UUID) -> Enrollment:
    found = await store.enrollment(enrollment_id, institution_id, lock=True)
    if found is None:
        raise enrollment_not_found(enrollment_id)
    return found


# --- reads of a person's record: each one audited -------------------------------------------


async def enrollments_seen(
    store: Store,
    institution_id: UUID,
    status: EnrollmentStatus | None,
    tier: Tier | None,
    limit: int,
    offset: int,
) -> list[Enrollment]:
    """A page of the institution's own enrolments (and one more row, if there is one: the caller pages);
    the read of each person shown is audited."""
    found = await store.enrollments(institution_id, status, tier, limit + 1, offset)
    await store.record_reads(f"institution:{institution_id}", "GET /enrollments", [e.trainee_id for e in found[:limit]])
    return found


async def enrollment_seen(store: Store, institution_id: UUID, enrollment_id: UUID) -> Enrollment:
    found = await store.enrollment(enrollment_id, institution_id)
    if found is None:
        raise enrollment_not_found(enrollment_id)
    await store.record_reads(f"institution:{institution_id}", "GET /enrollments/{enrollment_id}", [found.trainee_id])
    return found


async def legacy_identities_seen(store: Store, actor: str, limit: int, offset: int) -> list[LegacyIdentity]:
    """A page of the identities to review (and one more row, if there is one); each read audited."""
    found = await store.legacy_identities(limit + 1, offset)
    await store.record_reads(actor, "GET /legacy-identities", [e.trainee_id for e in found[:limit]])
    return found


# --- the Bureau's administration -------------------------------------------------------------


async def accredit(store: Store, name: str, mode: InstitutionMode, actor: str) -> Institution:
    """A new institution, active; `institution_exists` if the name is taken."""
    created = await store.add_institution(new_id(), name, mode)
    await store.audit(AuditNote(actor, "accredit", str(created.id)))
    return created


async def issue_key(store: Store, institution_id: UUID, actor: str) -> str:
    """A new key for the institution, shown once: `inst_<key id>_<secret>`; only a hash is kept."""
    if await store.institution(institution_id) is None:
        raise institution_not_found(institution_id)
    key_id, secret = uuid4(), secrets.token_urlsafe(32)
    await store.add_key(key_id, institution_id, hashlib.sha256(secret.encode()).hexdigest())
    await store.audit(AuditNote(actor, "issue_key", f"{institution_id}/{key_id}"))
    return f"inst_{key_id.hex}_{secret}"


async def revoke_key(store: Store, institution_id: UUID, key_id: str, actor: str) -> None:
    """The key stops working at once; `key_not_found` unless it is one of the institution's active keys."""
    try:
        key: UUID | None = UUID(hex=key_id)
    except ValueError:  # not a key id at all
        key = None
    if key is None or not await store.revoke_key(institution_id, key):
        raise NotFound("key_not_found", f"no active key {key_id} for this institution", "key_id")
    await store.audit(AuditNote(actor, "revoke_key", f"{institution_id}/{key_id}"))


async def change_status(
    store: Store, institution_id: UUID, status: InstitutionStatus, actor: str, reason: str
) -> Institution:
    """Suspend or reinstate, announced in the same unit; asking for the current status is a no-op."""
    found = await store.institution(institution_id, lock="update")
    if found is None:
        raise institution_not_found(institution_id)
    if not decide_status_change(found.status, status):
        return found
    seq = await store.set_status(institution_id, status)
    await store.audit(AuditNote(actor, status.value, str(institution_id), reason))
    kind = InstitutionSuspended if status == InstitutionStatus.SUSPENDED else InstitutionReinstated
    store.publish(
        kind.create(
            source=SOURCE,
            subject=str(institution_id),
            occurred_at=datetime.now(UTC),
            institution_id=institution_id,
            status_seq=seq,
            reason=reason,
        )
    )
    return replace(found, status=status, status_seq=seq)
