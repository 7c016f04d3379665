"""Every enrollment use case (enrollment.handlers) on the in-memory store: no database, no broker."""

import uuid
from collections.abc import Sequence
from datetime import date

import pytest

from enrollment import handlers
from enrollment.cohort import RowError
from enrollment.domain import EnrollmentStatus, History, Institution, InstitutionMode, InstitutionStatus, Raced
from enrollment.policy import load_policy
from enrollment.ports import NewEnrollment
from enrollment.requests import CompletionItem, EnrolRequest, WithdrawalItem
from plan_events import (
    EnrollmentWithdrawn,
    InstitutionReinstated,
    InstitutionSuspended,
    Outcome,
    Tier,
    TierCompleted,
    TraineeEnrolled,
)
from plan_runtime.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from tests.fakes.enrollment import FakeStore
from tests.support.contracts.enrollment_store import a_trainee, trainee
from tests.support.people import id_number

POLICY = load_policy()
PII_KEY = b"test-hmac-key"
BUREAU = "bureau:director-liu"


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


async def accredited(store: FakeStore, name: str = "Village Room") -> Institution:
    return await handlers.accredit(store, name, InstitutionMode.OFFLINE, BUREAU)


def person(number: str | None = None, tier: str = "basic", **changes: object) -> EnrolRequest:
    return EnrolRequest.model_validate(trainee(tier, number, **changes))


async def enrol_one(store: FakeStore, where: Institution, row: EnrolRequest | None = None) -> handlers.RowResult:
    return handlers.only(await handlers.enrol(store, where.id, [row or person()], POLICY, PII_KEY))


def codes(results: list[handlers.RowResult]) -> list[str | None]:
    return [None if r.error is None else r.error.code for r in results]


def lookups(store: FakeStore) -> list[tuple[str, str, str | None]]:
    return [(e.actor, e.action, e.reason) for e in store.state.audit_log if e.action == "identity_lookup"]


# --- enrol -----------------------------------------------------------------------------------------------------


async def test_a_cohort_writes_the_good_rows_publishes_them_and_counts_the_day(store: FakeStore) -> None:
    village = await accredited(store)
    twice = id_number()
    rows: list[EnrolRequest | RowError] = [
        person(),
        RowError(2, "invalid_id_number", "id_number", "id_number: not a number"),
        person(twice),
        person(twice),  # the same person twice in one upload
        person(starts_on="2019-12-31"),
    ]
    results = await handlers.enrol(store, village.id, rows, POLICY, PII_KEY)
    assert codes(results) == [None, "invalid_id_number", None, "already_enrolled", "outside_plan_period"]
    assert [r.row for r in results] == [1, 2, 3, 4, 5]
    assert isinstance(results[1].error, Invalid) and isinstance(results[3].error, Conflict)
    assert all(r.trainee_id is None and r.enrollment_id is None for r in results if not r.accepted)
    accepted = [r for r in results if r.accepted]
    assert [type(e) for e in store.published] == [TraineeEnrolled, TraineeEnrolled]
    assert [e.enrollment_id for e in store.published] == [r.enrollment_id for r in accepted]  # type: ignore[attr-defined]
    listed = await store.enrollments(village.id, EnrollmentStatus.OPEN, None, 10, 0)
    assert {e.id for e in listed} == {r.enrollment_id for r in accepted}
    assert {r.enrollment_id.version for r in accepted if r.enrollment_id} == {7}  # time-ordered: plan_events.ids
    assert store.state.intake == {(village.id, next(iter(store.state.intake))[1]): (5, 3)}
    assert lookups(store) == []  # refused inside the upload: nothing revealed of another institution


async def test_refusals_that_reveal_another_record_are_audited_and_never_name_the_person(store: FakeStore) -> None:
    village, prober = await accredited(store), await accredited(store, "Curious Agency")
    known = id_number()
    await enrol_one(store, village, person(known))
    results = await handlers.enrol(
        store, prober.id, [person(known), person(known, tier="professional")], POLICY, PII_KEY
    )
    assert codes(results) == ["enrolled_elsewhere", "tier_out_of_order"]
    assert all(r.trainee_id is None for r in results)
    assert str(village.id) not in (results[0].error.message if results[0].error else "")
    who = f"institution:{prober.id}"
    assert lookups(store) == [
        (who, "identity_lookup", "basic: enrolled_elsewhere"),
        (who, "identity_lookup", "professional: tier_out_of_order"),
    ]


async def test_a_next_tier_accepted_after_a_pass_elsewhere_is_audited(store: FakeStore) -> None:
    village, cloud = await accredited(store), await accredited(store, "Cloud Studio")
    number = id_number()
    first = await enrol_one(store, village, person(number))
    assert first.enrollment_id is not None
    await handlers.complete(
        store,
        village.id,
        [CompletionItem(enrollment_id=first.enrollment_id, completed_on=date(2020, 8, 23), passed=True)],
        POLICY,
    )
    again = await handlers.enrol(store, cloud.id, [person(number)], POLICY, PII_KEY)
    next_tier = await enrol_one(store, cloud, person(number, tier="professional"))
    assert codes(again) == ["tier_already_completed"] and next_tier.accepted
    assert [reason for _, _, reason in lookups(store)] == ["basic: tier_already_completed", "professional: accepted"]


async def test_the_single_enrolment_raises_its_rows_refusal(store: FakeStore) -> None:
    village = await accredited(store)
    number = id_number()
    await enrol_one(store, village, person(number))
    with pytest.raises(Conflict) as again:
        await enrol_one(store, village, person(number))
    assert (again.value.code, again.value.field) == ("already_enrolled", "tier")
    with pytest.raises(Invalid) as child:
        await enrol_one(store, village, person(id_number(born="20100101")))
    assert (child.value.code, child.value.field) == ("age_out_of_range", "id_number")
    assert len(store.state.intake) == 1 and next(iter(store.state.intake.values())) == (3, 2)  # counted all the same


async def test_a_suspended_institution_enrols_no_one(store: FakeStore) -> None:
    village = await accredited(store)
    await handlers.change_status(store, village.id, InstitutionStatus.SUSPENDED, BUREAU, "no classroom")
    store.published.clear()
    with pytest.raises(Forbidden) as refused:
        await handlers.enrol(store, village.id, [person()], POLICY, PII_KEY)
    assert refused.value.code == "institution_suspended"
    assert store.published == [] and store.state.enrollments == {}


class StaleOnce(FakeStore):
    """Its first read of histories misses an enrolment another upload is committing at the same moment."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def histories(self, trainee_ids: Sequence[str]) -> dict[str, History]:
        self.reads += 1
        found = await super().histories(trainee_ids)
        return {t: History() for t in trainee_ids} if self.reads == 1 else found


async def test_a_cohort_raced_to_the_same_person_is_decided_again() -> None:
    raced = StaleOnce()
    village, cloud = await accredited(raced), await accredited(raced, "Cloud Studio")
    row = person()
    await enrol_one(raced, cloud, row)
    raced.reads, before = 0, len(raced.published)
    results = await handlers.enrol(raced, village.id, [row, person()], POLICY, PII_KEY)
    assert raced.reads == 2  # the first attempt lost the race at its write and was undone; the second decided again
    assert codes(results) == ["enrolled_elsewhere", None]
    assert [e.enrollment_id for e in raced.published[before:]] == [results[1].enrollment_id]  # type: ignore[attr-defined]
    assert [reason for *_, reason in lookups(raced)] == ["basic: enrolled_elsewhere"]  # audited once


async def test_a_cohort_that_keeps_losing_the_race_is_refused() -> None:
    class AlwaysRaced(FakeStore):
        async def add_enrollments(self, enrollments: Sequence[NewEnrollment]) -> None:
            raise Raced()

    always = AlwaysRaced()
    village = await accredited(always)
    with pytest.raises(Raced):
        await handlers.enrol(always, village.id, [person()], POLICY, PII_KEY)
    assert always.published == [] and always.state.trainees == {}


# --- complete ----------------------------------------------------------------------------------------------------


async def test_completions_write_the_good_rows_and_refuse_each_bad_one(store: FakeStore) -> None:
    village, cloud = await accredited(store), await accredited(store, "Cloud Studio")
    ours = [(await enrol_one(store, village)).enrollment_id for _ in range(3)]
    theirs = (await enrol_one(store, cloud)).enrollment_id
    store.published.clear()

    def item(enrollment_id: uuid.UUID | None, day: str, passed: bool = True, **more: object) -> CompletionItem:
        return CompletionItem.model_validate(
            {"enrollment_id": enrollment_id, "completed_on": day, "passed": passed, **more}
        )

    rows: list[CompletionItem | RowError] = [
        item(ours[0], "2020-08-25", outcome="employed"),
        item(ours[1], "2020-08-10"),  # too soon
        item(theirs, "2020-08-25"),  # not ours
        item(ours[2], "2020-08-25", passed=False),
        item(ours[0], "2020-08-26"),  # twice in one upload
        RowError(6, "invalid_field", "enrollment_id", "enrollment_id: not a UUID"),
    ]
    results = await handlers.complete(store, village.id, rows, POLICY)
    assert codes(results) == [
        None,
        "course_too_short",
        "enrollment_not_found",
        None,
        "enrollment_not_open",
        "invalid_field",
    ]
    assert isinstance(results[2].error, NotFound)
    assert [(e.enrollment_id, e.passed, e.outcome) for e in store.published] == [  # type: ignore[attr-defined]
        (ours[0], True, Outcome.EMPLOYED),
        (ours[2], False, None),
    ]
    done = await store.enrollment(ours[0], village.id)  # type: ignore[arg-type]
    assert done is not None and (done.status, done.completed_on) == (EnrollmentStatus.COMPLETED, date(2020, 8, 25))


async def test_a_completion_carries_the_institutions_status_when_it_was_reported(store: FakeStore) -> None:
    village = await accredited(store)
    enrolment = (await enrol_one(store, village)).enrollment_id
    await handlers.change_status(store, village.id, InstitutionStatus.SUSPENDED, BUREAU, "audit")
    store.published.clear()
    assert enrolment is not None
    item = CompletionItem(enrollment_id=enrolment, completed_on=date(2020, 8, 24), passed=True)
    handlers.only(await handlers.complete(store, village.id, [item], POLICY))
    [event] = store.published
    assert isinstance(event, TierCompleted)
    assert (event.institution_status, event.institution_status_seq) == ("suspended", 1)


# --- outcome, withdrawal -----------------------------------------------------------------------------------------


async def test_an_outcome_follows_a_completed_course(store: FakeStore) -> None:
    village, cloud = await accredited(store), await accredited(store, "Cloud Studio")
    enrolment = (await enrol_one(store, village)).enrollment_id
    assert enrolment is not None
    with pytest.raises(Conflict) as early:
        await handlers.report_outcome(store, village.id, enrolment, Outcome.EMPLOYED)
    assert early.value.code == "enrollment_not_completed"
    item = CompletionItem(enrollment_id=enrolment, completed_on=date(2020, 9, 1), passed=False)
    await handlers.complete(store, village.id, [item], POLICY)
    answered = await handlers.report_outcome(store, village.id, enrolment, Outcome.SEEKING)
    assert answered.outcome == Outcome.SEEKING and answered == await store.enrollment(enrolment, village.id)
    with pytest.raises(NotFound) as not_theirs:
        await handlers.report_outcome(store, cloud.id, enrolment, Outcome.EMPLOYED)
    assert not_theirs.value.code == "enrollment_not_found"


async def test_a_withdrawal_is_audited_and_published_once(store: FakeStore) -> None:
    village = await accredited(store)
    enrolment = (await enrol_one(store, village)).enrollment_id
    assert enrolment is not None
    store.published.clear()
    actor = f"institution:{village.id}"
    gone = handlers.only(await handlers.withdraw(store, village.id, [leaving(enrolment, "moved away")], actor))
    assert (gone.accepted, gone.enrollment_id) == (True, enrolment)
    found = await store.enrollment(enrolment, village.id)
    assert found is not None and (found.status, found.withdrawn_reason) == (EnrollmentStatus.WITHDRAWN, "moved away")
    assert gone.trainee_id == found.trainee_id
    [event] = store.published
    assert isinstance(event, EnrollmentWithdrawn) and (event.reason, event.tier) == ("moved away", Tier.BASIC)
    assert [(e.actor, e.action, e.subject) for e in store.state.audit_log][-1] == (actor, "withdraw", str(enrolment))
    with pytest.raises(Conflict) as twice:
        handlers.only(await handlers.withdraw(store, village.id, [leaving(enrolment, "again")], actor))
    assert (twice.value.code, twice.value.field) == ("enrollment_not_open", "enrollment_id")
    with pytest.raises(NotFound):
        handlers.only(await handlers.withdraw(store, village.id, [leaving(uuid.uuid4(), "no such")], actor))
    assert len(store.published) == 1


def leaving(enrollment_id: uuid.UUID, reason: str = "found a job") -> WithdrawalItem:
    return WithdrawalItem(enrollment_id=enrollment_id, reason=reason)


async def test_withdrawals_write_the_good_rows_and_refuse_each_bad_one(store: FakeStore) -> None:
    village, cloud = await accredited(store), await accredited(store, "Cloud Studio")
    ours = [(await enrol_one(store, village)).enrollment_id or uuid.uuid4() for _ in range(4)]
    theirs = (await enrol_one(store, cloud)).enrollment_id or uuid.uuid4()
    done = ours[3]
    await handlers.complete(
        store, village.id, [CompletionItem(enrollment_id=done, completed_on=date(2020, 9, 1), passed=True)], POLICY
    )
    store.published.clear()
    audited = len(store.state.audit_log)
    rows: list[WithdrawalItem | RowError] = [
        leaving(ours[0], "moved away"),
        leaving(theirs),  # another institution's
        RowError(3, "invalid_field", "reason", "reason: too short"),
        leaving(ours[0], "again"),  # twice in one upload
        leaving(done),  # already completed
        leaving(ours[1], "found a job"),
        leaving(uuid.uuid4()),  # no such enrolment
    ]
    actor = f"institution:{village.id}"
    results = await handlers.withdraw(store, village.id, rows, actor)
    assert codes(results) == [
        None,
        "enrollment_not_found",
        "invalid_field",
        "enrollment_not_open",
        "enrollment_not_open",
        None,
        "enrollment_not_found",
    ]
    assert [r.row for r in results] == [1, 2, 3, 4, 5, 6, 7]
    assert [(type(e), e.enrollment_id, e.reason) for e in store.published] == [  # type: ignore[attr-defined]
        (EnrollmentWithdrawn, ours[0], "moved away"),
        (EnrollmentWithdrawn, ours[1], "found a job"),
    ]
    statuses = [await store.enrollment(e, village.id) for e in ours]
    assert [(s.status, s.withdrawn_reason) for s in statuses if s is not None] == [
        (EnrollmentStatus.WITHDRAWN, "moved away"),
        (EnrollmentStatus.WITHDRAWN, "found a job"),
        (EnrollmentStatus.OPEN, None),
        (EnrollmentStatus.COMPLETED, None),
    ]
    other = await store.enrollment(theirs, cloud.id)
    assert other is not None and other.status == EnrollmentStatus.OPEN
    notes = [(e.actor, e.action, e.subject, e.reason) for e in store.state.audit_log[audited:]]
    assert notes == [
        (actor, "withdraw", str(ours[0]), "moved away"),
        (actor, "withdraw", str(ours[1]), "found a job"),
    ]


# --- reads, each audited -----------------------------------------------------------------------------------------


async def test_reads_of_a_persons_record_are_audited(store: FakeStore) -> None:
    village = await accredited(store)
    first, second = await enrol_one(store, village), await enrol_one(store, village)
    assert first.enrollment_id is not None
    page = await handlers.enrollments_seen(store, village.id, None, None, 1, 0)
    assert len(page) == 2  # one more than the page: the caller pages
    one = await handlers.enrollment_seen(store, village.id, first.enrollment_id)
    assert one.id == first.enrollment_id
    with pytest.raises(NotFound):
        await handlers.enrollment_seen(store, village.id, uuid.uuid4())
    await store.add_trainees([])  # nothing legacy here: an empty page is no read
    assert await handlers.legacy_identities_seen(store, BUREAU, 10, 0) == []
    who = f"institution:{village.id}"
    assert store.state.reads == [
        (who, "GET /enrollments", page[0].trainee_id),  # only the person shown
        (who, "GET /enrollments/{enrollment_id}", str(first.trainee_id)),
    ]
    assert second.trainee_id not in {person_id for *_, person_id in store.state.reads}


async def test_the_legacy_identities_shown_are_audited(store: FakeStore) -> None:
    legacy = [a_trainee("１３０１０２********0014"), a_trainee("１３０１０２********0022")]
    await store.add_trainees(legacy)
    found = await handlers.legacy_identities_seen(store, BUREAU, 1, 0)
    assert len(found) == 2
    assert store.state.reads == [(BUREAU, "GET /legacy-identities", found[0].trainee_id)]


# --- the Bureau --------------------------------------------------------------------------------------------------


async def test_accreditation_is_audited_and_a_name_is_taken_once(store: FakeStore) -> None:
    village = await accredited(store)
    assert village.status == InstitutionStatus.ACTIVE
    assert [(e.actor, e.action, e.subject) for e in store.state.audit_log] == [(BUREAU, "accredit", str(village.id))]
    with pytest.raises(Conflict) as taken:
        await accredited(store)
    assert (taken.value.code, taken.value.field) == ("institution_exists", "name")


async def test_a_key_is_issued_hashed_and_revoked_once(store: FakeStore) -> None:
    village = await accredited(store)
    api_key = await handlers.issue_key(store, village.id, BUREAU)
    prefix, key_hex, secret = api_key.split("_", 2)
    key_id = uuid.UUID(hex=key_hex)
    found = await store.key(key_id)
    assert prefix == "inst" and found is not None and secret not in found.secret_sha256
    with pytest.raises(NotFound) as nowhere:
        await handlers.issue_key(store, uuid.uuid4(), BUREAU)
    assert nowhere.value.code == "institution_not_found"
    await handlers.revoke_key(store, village.id, key_hex, BUREAU)
    assert await store.key(key_id) is None
    for wrong in (key_hex, "not-a-key"):  # revoked already; not a key id at all
        with pytest.raises(NotFound) as missing:
            await handlers.revoke_key(store, village.id, wrong, BUREAU)
        assert (missing.value.code, missing.value.field) == ("key_not_found", "key_id")
    assert [e.action for e in store.state.audit_log] == ["accredit", "issue_key", "revoke_key"]


async def test_suspension_and_reinstatement_are_published_with_their_sequence(store: FakeStore) -> None:
    village = await accredited(store)
    suspended = await handlers.change_status(store, village.id, InstitutionStatus.SUSPENDED, BUREAU, "audit")
    again = await handlers.change_status(store, village.id, InstitutionStatus.SUSPENDED, BUREAU, "twice")
    back = await handlers.change_status(store, village.id, InstitutionStatus.ACTIVE, BUREAU, "passed")
    assert (suspended.status, suspended.status_seq, again.status_seq) == (InstitutionStatus.SUSPENDED, 1, 1)
    assert (back.status, back.status_seq) == (InstitutionStatus.ACTIVE, 2)
    assert [(type(e), e.status_seq, e.reason) for e in store.published] == [  # type: ignore[attr-defined]
        (InstitutionSuspended, 1, "audit"),
        (InstitutionReinstated, 2, "passed"),
    ]
    assert [(e.action, e.reason) for e in store.state.audit_log][1:] == [("suspended", "audit"), ("active", "passed")]
    with pytest.raises(NotFound):
        await handlers.change_status(store, uuid.uuid4(), InstitutionStatus.SUSPENDED, BUREAU, "who?")


def test_only_answers_the_one_row_or_raises_its_refusal() -> None:
    ok = handlers.RowResult(1, True, uuid.uuid4(), "tr-1")
    assert handlers.only([ok]) is ok
    refusal: DomainError = Conflict("already_enrolled", "already", "tier")
    with pytest.raises(Conflict) as raised:
        handlers.only([handlers.RowResult(1, False, error=refusal)])
    assert raised.value is refusal
