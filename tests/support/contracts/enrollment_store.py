"""What every enrollment store does (enrollment.ports.Store), whatever keeps it: ONE suite for the in-memory fake
(tests/unit/enrollment/test_store_contract.py) and the PostgreSQL store on a throw-away schema
(tests/integration/enrollment/test_store_contract.py). Each of them imports these tests and provides the
fixtures `store` (a store on one fresh unit of work) and `reads` (what the audit of reads holds)."""

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from enrollment.domain import (
    EnrollmentStatus,
    History,
    Institution,
    InstitutionMode,
    InstitutionStatus,
    Raced,
)
from enrollment.ports import AuditNote, Completion, NewEnrollment, NewTrainee, Store, Withdrawal
from plan_events import Event, Mode, Outcome, TargetGroup, Tier, TraineeEnrolled
from plan_runtime.errors import Conflict
from tests.support.people import id_number

Reads = Callable[[], Awaitable[list[tuple[str, str, str]]]]
"""(actor, route, person_id) of every audited read, in any order."""


def trainee(tier: str = "basic", number: str | None = None, **changes: Any) -> dict[str, Any]:
    """One enrolment request's body (the API tests post it; the use-case tests validate it)."""
    return {
        "id_number": number or id_number(),
        "name": "Liu Jiaqi",
        "phone": "13800138000",
        "target_group": "rural_household",
        "tier": tier,
        "mode": "offline",
        "starts_on": "2020-08-08",
        "niche": "cashmere and fur",
        **changes,
    }


async def an_institution(store: Store, name: str | None = None) -> Institution:
    return await store.add_institution(uuid.uuid4(), name or f"Room {uuid.uuid4().hex[:8]}", InstitutionMode.OFFLINE)


def a_trainee(masked: str = "130102********0014") -> NewTrainee:
    return NewTrainee(
        f"tr-{uuid.uuid4().hex[:24]}", uuid.uuid4().hex, masked, "Liu Jiaqi", "13800138000", date(1998, 8, 8)
    )


def an_enrolment(
    trainee: NewTrainee, institution: Institution, tier: Tier = Tier.BASIC, **changes: object
) -> NewEnrollment:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "trainee_id": trainee.trainee_id,
        "institution_id": institution.id,
        "tier": tier,
        "target_group": TargetGroup.RURAL_HOUSEHOLD,
        "mode": Mode.OFFLINE,
        "starts_on": date(2020, 8, 8),
        "niche": "cashmere and fur",
        "policy_version": "test",
        **changes,
    }
    return NewEnrollment(**values)  # type: ignore[arg-type]


async def enrolled(store: Store, institution: Institution, tier: Tier = Tier.BASIC, **changes: object) -> NewEnrollment:
    trainee = a_trainee()
    await store.add_trainees([trainee])
    new = an_enrolment(trainee, institution, tier, **changes)
    await store.add_enrollments([new])
    return new


# --- institutions and keys -------------------------------------------------------------------------------------


async def test_an_institution_is_accredited_active_once_per_name(store: Store) -> None:
    village = await an_institution(store, "Village Room")
    assert (village.name, village.mode, village.status, village.status_seq) == (
        "Village Room",
        InstitutionMode.OFFLINE,
        InstitutionStatus.ACTIVE,
        0,
    )
    assert await store.institution(village.id) == village
    assert await store.institution(village.id, lock="share") == village
    assert await store.institution(uuid.uuid4()) is None
    with pytest.raises(Conflict) as taken:
        async with store.savepoint():
            await store.add_institution(uuid.uuid4(), "Village Room", InstitutionMode.BOTH)
    assert (taken.value.code, taken.value.field) == ("institution_exists", "name")
    await an_institution(store, "Amber Academy")
    assert [i.name for i in await store.institutions()] == ["Amber Academy", "Village Room"]


async def test_each_status_change_has_the_next_sequence_number(store: Store) -> None:
    village = await an_institution(store)
    assert await store.set_status(village.id, InstitutionStatus.SUSPENDED) == 1
    assert await store.set_status(village.id, InstitutionStatus.ACTIVE) == 2
    found = await store.institution(village.id, lock="update")
    assert found is not None and (found.status, found.status_seq) == (InstitutionStatus.ACTIVE, 2)


async def test_a_key_works_until_it_is_revoked_by_its_own_institution(store: Store) -> None:
    village, other = await an_institution(store), await an_institution(store)
    key_id = uuid.uuid4()
    await store.add_key(key_id, village.id, "hash")
    found = await store.key(key_id)
    assert found is not None and (found.institution_id, found.secret_sha256, found.status) == (
        village.id,
        "hash",
        InstitutionStatus.ACTIVE,
    )
    await store.set_status(village.id, InstitutionStatus.SUSPENDED)
    assert (await store.key(key_id)).status == InstitutionStatus.SUSPENDED  # type: ignore[union-attr]
    assert not await store.revoke_key(other.id, key_id)
    assert await store.revoke_key(village.id, key_id)
    assert not await store.revoke_key(village.id, key_id)
    assert await store.key(key_id) is None and await store.key(uuid.uuid4()) is None


# --- trainees and enrolments -----------------------------------------------------------------------------------


async def test_an_enrolment_is_seen_only_by_its_institution(store: Store) -> None:
    village, cloud = await an_institution(store), await an_institution(store)
    new = await enrolled(store, village)
    found = await store.enrollment(new.id, village.id, lock=True)
    assert found is not None
    assert (found.id, found.trainee_id, found.tier, found.target_group, found.mode, found.starts_on) == (
        new.id,
        new.trainee_id,
        Tier.BASIC,
        TargetGroup.RURAL_HOUSEHOLD,
        Mode.OFFLINE,
        date(2020, 8, 8),
    )
    assert (found.status, found.id_masked, found.niche, found.policy_version) == (
        EnrollmentStatus.OPEN,
        "130102********0014",
        "cashmere and fur",
        "test",
    )
    assert (found.completed_on, found.passed, found.outcome, found.withdrawn_reason) == (None, None, None, None)
    assert await store.enrollment(new.id, cloud.id) is None
    assert await store.enrollments_by_id([new.id, uuid.uuid4()], village.id, lock=True) == {new.id: found}
    assert await store.enrollments_by_id([new.id], cloud.id) == {}


async def test_a_known_person_keeps_their_first_record(store: Store) -> None:
    village = await an_institution(store)
    trainee = a_trainee()
    await store.add_trainees([trainee])
    await store.add_trainees(
        [NewTrainee(trainee.trainee_id, trainee.id_hash, "130102********0022", "B", "1", date(2000, 1, 1))]
    )
    await store.add_enrollments([an_enrolment(trainee, village)])
    [found] = await store.enrollments(village.id, None, None, 10, 0)
    assert found.id_masked == trainee.id_masked


async def test_listing_filters_by_status_and_tier_and_pages_in_order(store: Store) -> None:
    village, cloud = await an_institution(store), await an_institution(store)
    first = await enrolled(store, village)
    second = await enrolled(store, village, Tier.PROFESSIONAL)
    await enrolled(store, cloud)
    await store.withdraw([Withdrawal(second.id, "moved away")], [])
    everything = [e.id for e in await store.enrollments(village.id, None, None, 10, 0)]
    assert sorted(everything) == sorted([first.id, second.id])  # by creation, then id (one unit: one `now()`)
    pages = [e.id for offset in (0, 1, 2) for e in await store.enrollments(village.id, None, None, 1, offset)]
    assert pages == everything
    assert [e.id for e in await store.enrollments(village.id, EnrollmentStatus.OPEN, None, 10, 0)] == [first.id]
    assert [e.id for e in await store.enrollments(village.id, None, Tier.PROFESSIONAL, 10, 0)] == [second.id]
    assert await store.enrollments(village.id, EnrollmentStatus.COMPLETED, None, 10, 0) == []


async def test_a_person_has_one_open_enrolment_per_tier_and_a_race_writes_nothing(store: Store) -> None:
    village, cloud = await an_institution(store), await an_institution(store)
    trainee = a_trainee()
    await store.add_trainees([trainee])
    await store.add_enrollments([an_enrolment(trainee, village)])
    lost, other, newcomer = an_enrolment(trainee, cloud), await enrolled(store, cloud, Tier.SENIOR), a_trainee()
    with pytest.raises(Raced):
        async with store.savepoint():
            store.publish(announced(lost))
            await store.add_trainees([newcomer])
            await store.add_enrollments([an_enrolment(newcomer, cloud), lost])
    assert await store.enrollment(lost.id, cloud.id) is None  # the savepoint undid it all
    assert [e.id for e in await store.enrollments(cloud.id, None, None, 10, 0)] == [other.id]
    assert (await store.histories([newcomer.trainee_id]))[newcomer.trainee_id] == History()
    assert published(store) == []
    await store.withdraw([Withdrawal((await store.enrollments(village.id, None, None, 1, 0))[0].id, "gone")], [])
    await store.add_enrollments([lost])  # once the first is withdrawn, the person may enrol again


def announced(e: NewEnrollment) -> TraineeEnrolled:
    facts = ("trainee_id", "institution_id", "tier", "target_group", "mode", "starts_on", "niche")
    return TraineeEnrolled.create(
        source="test",
        subject=e.trainee_id,
        occurred_at=datetime.now(UTC),
        enrollment_id=e.id,
        **{name: getattr(e, name) for name in facts},
    )


def published(store: Store) -> list[Event]:
    return list(store.published)  # type: ignore[attr-defined]


async def test_a_savepoint_undoes_what_was_written_and_published_inside_it_only(store: Store) -> None:
    village = await an_institution(store)
    kept = await enrolled(store, village)
    with pytest.raises(RuntimeError):
        async with store.savepoint():
            await store.withdraw([Withdrawal(kept.id, "a mistake")], [])
            store.publish(announced(kept))
            raise RuntimeError("refused")
    assert published(store) == []
    found = await store.enrollment(kept.id, village.id)
    assert found is not None and found.status == EnrollmentStatus.OPEN
    async with store.savepoint():
        await store.withdraw([Withdrawal(kept.id, "for real")], [])
        store.publish(announced(kept))
    assert len(published(store)) == 1
    found = await store.enrollment(kept.id, village.id)
    assert found is not None and (found.status, found.withdrawn_reason) == (EnrollmentStatus.WITHDRAWN, "for real")


async def test_histories_know_open_and_passed_tiers_only(store: Store) -> None:
    village = await an_institution(store)
    passed, failed, gone, still = [await enrolled(store, village) for _ in range(4)]
    await store.complete(
        [
            Completion(passed.id, date(2020, 9, 1), True, Outcome.EMPLOYED),
            Completion(failed.id, date(2020, 9, 1), False, None),
        ]
    )
    await store.withdraw([Withdrawal(gone.id, "moved away")], [])
    people = [e.trainee_id for e in (passed, failed, gone, still)] + ["tr-nobody"]
    found = await store.histories(people)
    assert found[passed.trainee_id] == History(passed={Tier.BASIC})
    assert found[failed.trainee_id] == History() and found[gone.trainee_id] == History()
    assert found[still.trainee_id] == History(open={Tier.BASIC: village.id})
    assert found["tr-nobody"] == History()


async def test_completion_outcome_and_withdrawal_are_kept(store: Store) -> None:
    village = await an_institution(store)
    done, gone = await enrolled(store, village), await enrolled(store, village)
    await store.complete([Completion(done.id, date(2020, 9, 1), True, None)])
    await store.set_outcome(done.id, Outcome.OWN_BUSINESS)
    await store.withdraw([Withdrawal(gone.id, "found a job")], [])
    finished = await store.enrollment(done.id, village.id)
    assert finished is not None
    assert (finished.status, finished.completed_on, finished.passed, finished.outcome) == (
        EnrollmentStatus.COMPLETED,
        date(2020, 9, 1),
        True,
        Outcome.OWN_BUSINESS,
    )
    left = await store.enrollment(gone.id, village.id)
    assert left is not None and (left.status, left.withdrawn_reason) == (EnrollmentStatus.WITHDRAWN, "found a job")


# --- audit, intake, legacy identities --------------------------------------------------------------------------


async def test_the_audit_log_is_read_newest_first_by_action(store: Store) -> None:
    await store.audit(AuditNote("a", "identity_lookup", "p1", "basic: enrolled_elsewhere"))
    await store.audit()
    await store.audit(AuditNote("b", "accredit", "i1"), AuditNote("c", "identity_lookup", "p2"))
    found = await store.audit_entries("identity_lookup", 10, 0)
    assert [(e.actor, e.subject, e.reason) for e in found] == [
        ("c", "p2", None),
        ("a", "p1", "basic: enrolled_elsewhere"),
    ]
    assert [e.actor for e in await store.audit_entries("identity_lookup", 1, 1)] == ["a"]
    assert found[0].id > found[1].id


async def test_reads_are_recorded_once_per_person_shown(store: Store, reads: Reads) -> None:
    await store.record_reads("institution:x", "GET /enrollments", ["p1", "p2", "p1"])
    await store.record_reads("institution:x", "GET /enrollments", [])
    assert sorted(await reads()) == [
        ("institution:x", "GET /enrollments", "p1"),
        ("institution:x", "GET /enrollments", "p2"),
    ]


async def test_a_day_with_a_large_refused_share_is_flagged(store: Store) -> None:
    prober, honest = await an_institution(store, "Curious Agency"), await an_institution(store, "Honest Room")
    day = date(2020, 9, 1)
    await store.count_intake(prober.id, day, 10, 8)
    await store.count_intake(prober.id, day, 10, 9)
    await store.count_intake(honest.id, day, 20, 1)
    await store.count_intake(prober.id, date(2020, 9, 2), 2, 2)  # too few rows to say
    [flagged] = await store.flagged(0.5, 5, date(2020, 8, 1))
    assert (flagged.institution_id, flagged.name, flagged.status, flagged.day) == (
        prober.id,
        "Curious Agency",
        InstitutionStatus.ACTIVE,
        day,
    )
    assert (flagged.rows, flagged.refused, flagged.refused_share) == (20, 17, 0.85)
    assert await store.flagged(0.5, 5, date(2020, 9, 2)) == []


async def test_trainees_with_a_non_ascii_masked_number_are_listed_for_review(store: Store) -> None:
    legacy = a_trainee("１３０１０２********0014")
    await store.add_trainees([a_trainee(), legacy])
    [found] = [e for e in await store.legacy_identities(100) if e.trainee_id == legacy.trainee_id]
    assert (found.id_masked, found.birth_date) == ("１３０１０２********0014", date(1998, 8, 8))


# --- idempotency -----------------------------------------------------------------------------------------------


async def test_an_idempotency_key_is_claimed_once_and_remembers_its_answer(store: Store) -> None:
    assert await store.claim_idempotency_key("inst", "k1", "hash-1") is None
    await store.remember_response("inst", "k1", 201, {"id": "e1", "tier": "basic"})
    first = await store.claim_idempotency_key("inst", "k1", "hash-2")
    assert first is not None and (first.request_hash, first.status_code, first.body) == (
        "hash-1",
        201,
        {"id": "e1", "tier": "basic"},
    )
    assert await store.claim_idempotency_key("other", "k1", "hash-1") is None  # keys are per caller


# --- progress --------------------------------------------------------------------------------------------------


async def test_progress_counts_by_tier_and_each_dimension(store: Store) -> None:
    village = await an_institution(store)
    employed = await enrolled(store, village)
    failed = await enrolled(store, village, target_group=TargetGroup.UNEMPLOYED)
    gone = await enrolled(store, village, starts_on=date(2021, 3, 1))
    await enrolled(store, village, Tier.PROFESSIONAL)
    await store.complete(
        [
            Completion(employed.id, date(2020, 9, 1), True, Outcome.EMPLOYED),
            Completion(failed.id, date(2021, 1, 5), False, None),
        ]
    )
    await store.withdraw([Withdrawal(gone.id, "moved away")], [])
    rows = await store.progress()
    assert [r.tier for r in rows] == sorted((r.tier for r in rows), key=list(Tier).index)
    [basic] = [r for r in rows if r.tier == Tier.BASIC and r.grouping == 15]
    assert (basic.enrolled, basic.open, basic.completed, basic.failed, basic.withdrawn, basic.employed) == (
        3,
        0,
        1,
        1,
        1,
        1,
    )
    assert basic.own_business == 0
    by_start = {r.start_year: r.enrolled for r in rows if r.tier == Tier.BASIC and r.grouping == 13}
    assert by_start == {2020: 2, 2021: 1}
    by_completion = {r.completion_year: r.completed for r in rows if r.tier == Tier.BASIC and r.grouping == 14}
    assert by_completion == {2020: 1, 2021: 0, None: 0}
    groups = {r.target_group: r.enrolled for r in rows if r.tier == Tier.BASIC and r.grouping == 7}
    assert groups == {"rural_household": 2, "unemployed": 1}
    assert [(r.institution_id, r.enrolled) for r in rows if r.tier == Tier.PROFESSIONAL and r.grouping == 11] == [
        (village.id, 1)
    ]


async def test_a_cohort_larger_than_a_few_rows_is_written_whole_or_raced_whole(store: Store) -> None:
    """A few rows are inserted, a cohort is copied (PostgreSQL): both are one statement, all or nothing."""
    village, cloud = await an_institution(store), await an_institution(store)
    trainees = [a_trainee() for _ in range(200)]
    await store.add_trainees(trainees)
    for size in (1, 2, 64, 65, 100):
        cohort = [an_enrolment(t, village) for t in trainees[:size]]
        await store.add_enrollments(cohort)
        found = await store.enrollments_by_id([e.id for e in cohort], village.id)
        assert {e.id: (e.trainee_id, e.status, e.niche) for e in found.values()} == {
            e.id: (e.trainee_id, EnrollmentStatus.OPEN, "cashmere and fur") for e in cohort
        }
        # as many rows (the same way of writing), the last one a person open at the village
        raced = [an_enrolment(t, cloud) for t in trainees[100 : 100 + size - 1]] + [an_enrolment(trainees[0], cloud)]
        with pytest.raises(Raced):
            async with store.savepoint():
                await store.add_enrollments(raced)
        assert await store.enrollments(cloud.id, None, None, 10, 0) == []
        for enrolment in cohort:
            await store.withdraw([Withdrawal(enrolment.id, "next size")], [])


async def test_a_withdrawal_with_its_audit_note_writes_both(store: Store) -> None:
    village = await an_institution(store)
    gone, kept = await enrolled(store, village), await enrolled(store, village)
    note = AuditNote(f"institution:{village.id}", "withdraw", str(gone.id), "found a job")
    await store.withdraw([Withdrawal(gone.id, "found a job")], [note])
    found = await store.enrollment(gone.id, village.id)
    assert found is not None and (found.status, found.withdrawn_reason) == (EnrollmentStatus.WITHDRAWN, "found a job")
    assert (await store.enrollment(kept.id, village.id)).status == EnrollmentStatus.OPEN  # type: ignore[union-attr]
    [entry] = await store.audit_entries("withdraw", 10, 0)
    assert (entry.actor, entry.subject, entry.reason) == (note.actor, str(gone.id), "found a job")


async def test_many_withdrawals_each_with_its_reason_and_their_notes_are_written_together(store: Store) -> None:
    village = await an_institution(store)
    cohort = [await enrolled(store, village) for _ in range(5)]
    leaving = [Withdrawal(e.id, f"reason {n} \u00e9\u4e2d") for n, e in enumerate(cohort[:4])]
    notes = [AuditNote(f"institution:{village.id}", "withdraw", str(w.enrollment_id), w.reason) for w in leaving]
    await store.withdraw(leaving, notes)
    await store.withdraw([], [])  # nothing to write: nothing written
    found = {e.id: await store.enrollment(e.id, village.id) for e in cohort}
    assert [(f.status, f.withdrawn_reason) for f in found.values() if f is not None] == [
        *((EnrollmentStatus.WITHDRAWN, w.reason) for w in leaving),
        (EnrollmentStatus.OPEN, None),
    ]
    entries = await store.audit_entries("withdraw", 10, 0)
    assert sorted((e.subject, e.reason) for e in entries) == sorted((n.subject, n.reason) for n in notes)


@pytest.mark.parametrize("size", [0, 1, 3, 64, 65])
async def test_an_intake_is_recorded_whole_or_raced_whole(store: Store, size: int) -> None:
    """`record_intake`: the trainees, their enrolments, the audit notes and the day's count, as the four writes one
    after the other would leave them (one statement for a few rows, the four for a cohort); raced, nothing."""
    village, cloud = await an_institution(store), await an_institution(store)
    day = date(2020, 9, 3)
    trainees = [a_trainee() for _ in range(size)]
    cohort = [an_enrolment(t, village) for t in trainees]
    notes = [AuditNote(f"institution:{village.id}", "identity_lookup", t.trainee_id, "basic: x") for t in trainees]
    await store.record_intake(trainees, cohort, notes, (village.id, day, size + 1, 1))
    found = await store.enrollments_by_id([e.id for e in cohort], village.id)
    assert {e.id: (e.trainee_id, e.status, e.id_masked) for e in found.values()} == {
        e.id: (e.trainee_id, EnrollmentStatus.OPEN, "130102********0014") for e in cohort
    }
    logged = await store.audit_entries("identity_lookup", 100, 0)
    assert sorted(e.subject for e in logged if e.actor == f"institution:{village.id}") == sorted(
        t.trainee_id for t in trainees
    )
    [flagged] = await store.flagged(0.0, 1, day)
    assert (flagged.institution_id, flagged.rows, flagged.refused) == (village.id, size + 1, 1)

    newcomers = [a_trainee() for _ in range(size)]
    raced = [an_enrolment(t, cloud) for t in newcomers] + ([an_enrolment(trainees[0], cloud)] if size else [])
    with pytest.raises(Raced) if size else contextlib.nullcontext():
        async with store.savepoint():
            await store.record_intake(newcomers, raced, notes[:1], (cloud.id, day, size + 1, 0))
    if size:
        assert await store.enrollments(cloud.id, None, None, 100, 0) == []
        assert all(h == History() for h in (await store.histories([t.trainee_id for t in newcomers])).values())
        assert [f.institution_id for f in await store.flagged(0.0, 1, day)] == [village.id]
