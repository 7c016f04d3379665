"""Every funding use case on the in-memory fake: what it changes, what it publishes, what it refuses."""

import uuid
from datetime import date

import pytest

from funding import handlers
from funding.domain import BatchStatus, FundPosition, InstitutionStatus, SubsidyStatus
from funding.policy import load_policy
from plan_events import (
    EnrollmentWithdrawn,
    InstitutionReinstated,
    InstitutionSuspended,
    SubsidyApproved,
    SubsidyRejected,
    SubsidyRejection,
    SubsidyReversed,
    Tier,
    TierCompleted,
    TraineeEnrolled,
)
from plan_runtime.errors import Conflict, NotFound
from tests.fakes.funding import FakeFundingUnit
from tests.support.plan import completion, enrolment, person, reinstatement, suspension, withdrawal

POLICY = load_policy()
TODAY = date(2021, 6, 1)
FINANCE = "auditor-wang"


@pytest.fixture
def unit() -> FakeFundingUnit:
    return FakeFundingUnit(fund=FundPosition(POLICY.fund_yuan, 0, 0, 0))


async def enrol(unit: FakeFundingUnit, **how: object) -> TraineeEnrolled:
    enrolled = enrolment(**how)  # type: ignore[arg-type]
    await handlers.on_trainee_enrolled(unit, enrolled, POLICY)
    return enrolled


async def complete(unit: FakeFundingUnit, completed: TierCompleted) -> None:
    await handlers.on_tier_completed(unit, completed, POLICY, today=TODAY)


def status(unit: FakeFundingUnit, enrolled: TraineeEnrolled) -> SubsidyStatus | None:
    row = unit.rows.get(enrolled.enrollment_id)
    return row.status if row else None


async def test_the_composition_root_routes_each_event_to_its_use_case() -> None:
    assert set(handlers.consumes(POLICY)) == {
        TraineeEnrolled,
        TierCompleted,
        EnrollmentWithdrawn,
        InstitutionSuspended,
        InstitutionReinstated,
    }


async def test_an_enrolment_reserves_its_rate_once_and_basic_ones_nothing(unit: FakeFundingUnit) -> None:
    enrolled = await enrol(unit)
    await handlers.on_trainee_enrolled(unit, enrolled, POLICY)  # again
    basic = await enrol(unit, tier=Tier.BASIC)
    assert status(unit, enrolled) == SubsidyStatus.RESERVED and status(unit, basic) is None
    assert unit.fund.reserved == 900 and unit.published == []


async def test_a_passed_completion_is_approved_and_announced_once(unit: FakeFundingUnit) -> None:
    enrolled = await enrol(unit)
    completed = completion(enrolled)
    await complete(unit, completed)
    await complete(unit, completed)  # redelivered
    [approved] = unit.published
    assert isinstance(approved, SubsidyApproved)
    assert (approved.enrollment_id, approved.trainee_id, approved.amount_yuan, approved.causation_id) == (
        enrolled.enrollment_id,
        enrolled.trainee_id,
        900,
        completed.event_id,
    )
    assert approved.subsidy_id == unit.rows[enrolled.enrollment_id].id
    assert unit.fund == FundPosition(POLICY.fund_yuan, 0, 900, 0)


async def test_a_failed_completion_is_rejected_and_announced(unit: FakeFundingUnit) -> None:
    enrolled = await enrol(unit)
    await complete(unit, completion(enrolled, passed=False))
    [rejected] = unit.published
    assert isinstance(rejected, SubsidyRejected) and rejected.reason == SubsidyRejection.ASSESSMENT_FAILED
    assert status(unit, enrolled) == SubsidyStatus.REJECTED and unit.fund.reserved == 0


async def test_a_basic_completion_decides_nothing(unit: FakeFundingUnit) -> None:
    await complete(unit, completion(enrolment(tier=Tier.BASIC)))
    assert unit.rows == {} and unit.published == []


async def test_a_completion_tells_funding_its_institution_s_status(unit: FakeFundingUnit) -> None:
    school = uuid.uuid4()
    enrolled = await enrol(unit, institution=school)
    told = completion(enrolled).model_copy(
        update={"institution_status": InstitutionStatus.SUSPENDED.value, "institution_status_seq": 4}
    )
    await complete(unit, told)
    assert status(unit, enrolled) == SubsidyStatus.HELD and unit.published == []
    known = await unit.institution(school)
    assert known is not None and (known.status, known.status_seq) == (InstitutionStatus.SUSPENDED, 4)


async def test_a_suspension_holds_completions_and_a_reinstatement_decides_them(unit: FakeFundingUnit) -> None:
    school = uuid.uuid4()
    first, second = await enrol(unit, institution=school), await enrol(unit, institution=school)
    await handlers.on_institution_suspended(unit, suspension(school, 2), POLICY)
    await complete(unit, completion(first))
    await complete(unit, completion(second, passed=False))
    assert status(unit, first) == SubsidyStatus.HELD and status(unit, second) == SubsidyStatus.REJECTED
    stale = reinstatement(school, 1)
    await handlers.on_institution_reinstated(unit, stale, POLICY, today=TODAY)  # older news: stays held
    assert status(unit, first) == SubsidyStatus.HELD
    reinstated = reinstatement(school, 3)
    await handlers.on_institution_reinstated(unit, reinstated, POLICY, today=TODAY)
    assert status(unit, first) == SubsidyStatus.APPROVED
    approved = unit.published[-1]
    assert isinstance(approved, SubsidyApproved) and approved.causation_id == reinstated.event_id


async def test_a_withdrawal_gives_the_reservation_back_or_is_remembered(unit: FakeFundingUnit) -> None:
    enrolled = await enrol(unit)
    await handlers.on_enrollment_withdrawn(unit, withdrawal(enrolled), POLICY)
    assert status(unit, enrolled) == SubsidyStatus.WITHDRAWN and unit.fund.reserved == 0
    early = enrolment()
    await handlers.on_enrollment_withdrawn(unit, withdrawal(early), POLICY)  # before its enrolment
    await handlers.on_trainee_enrolled(unit, early, POLICY)
    assert status(unit, early) == SubsidyStatus.WITHDRAWN and unit.fund.reserved == 0
    basic = enrolment(tier=Tier.BASIC)
    await handlers.on_enrollment_withdrawn(unit, withdrawal(basic), POLICY)
    assert status(unit, basic) is None


async def test_a_withdrawal_after_the_decision_changes_nothing(unit: FakeFundingUnit) -> None:
    enrolled = await enrol(unit)
    await complete(unit, completion(enrolled))
    await handlers.on_enrollment_withdrawn(unit, withdrawal(enrolled), POLICY)
    assert status(unit, enrolled) == SubsidyStatus.APPROVED


async def test_finance_releases_only_a_suspended_institution_s_reservations(unit: FakeFundingUnit) -> None:
    school = uuid.uuid4()
    await enrol(unit, institution=school)
    with pytest.raises(Conflict) as refused:
        await handlers.release_reservations(unit, school, FINANCE, "why not")
    assert refused.value.code == "institution_not_suspended"
    await handlers.on_institution_suspended(unit, suspension(school, 1), POLICY)
    released = await handlers.release_reservations(unit, school, FINANCE, "institution suspended")
    assert released == handlers.Released(school, 1, 900) and unit.fund.reserved == 0


async def approved_at(unit: FakeFundingUnit, school: uuid.UUID, count: int) -> list[TraineeEnrolled]:
    claims = [await enrol(unit, institution=school, trainee=person()) for _ in range(count)]
    for enrolled in claims:
        await complete(unit, completion(enrolled))
    return claims


async def test_finance_batches_and_pays_an_institution_s_approved_subsidies(unit: FakeFundingUnit) -> None:
    school = uuid.uuid4()
    await approved_at(unit, school, 2)
    created = await handlers.create_payment_batch(unit, school, 2, 1_800, FINANCE)
    assert (created.batch.subsidy_count, created.batch.total_yuan, created.status) == (2, 1_800, BatchStatus.OPEN)
    with pytest.raises(Conflict) as nothing:
        await handlers.create_payment_batch(unit, school, 2, 1_800, FINANCE)
    assert nothing.value.code == "nothing_to_pay"
    with pytest.raises(Conflict) as wrong:
        await handlers.pay_batch(unit, created.batch_id, 900, FINANCE)
    assert wrong.value.code == "totals_mismatch"
    paid = await handlers.pay_batch(unit, created.batch_id, 1_800, FINANCE)
    assert (paid.id, paid.status) == (created.batch_id, BatchStatus.PAID)
    assert unit.fund.paid == 1_800
    with pytest.raises(Conflict) as again:
        await handlers.pay_batch(unit, created.batch_id, 1_800, FINANCE)
    assert again.value.code == "batch_already_paid"
    with pytest.raises(NotFound) as missing:
        await handlers.pay_batch(unit, uuid.uuid4(), 1_800, FINANCE)
    assert missing.value.code == "batch_not_found"


async def test_nothing_is_paid_to_a_suspended_institution(unit: FakeFundingUnit) -> None:
    school = uuid.uuid4()
    await approved_at(unit, school, 1)
    created = await handlers.create_payment_batch(unit, school, 1, 900, FINANCE)
    await handlers.on_institution_suspended(unit, suspension(school, 1), POLICY)
    for attempt in (
        handlers.create_payment_batch(unit, school, 1, 900, FINANCE),
        handlers.pay_batch(unit, created.batch_id, 900, FINANCE),
    ):
        with pytest.raises(Conflict) as refused:
            await attempt
        assert refused.value.code == "institution_suspended"


async def test_finance_reverses_an_approved_subsidy_and_announces_it(unit: FakeFundingUnit) -> None:
    [enrolled] = await approved_at(unit, uuid.uuid4(), 1)
    subsidy_id = unit.rows[enrolled.enrollment_id].id
    reversed_ = await handlers.reverse_subsidy(unit, subsidy_id, FINANCE, "trainee did not attend")
    assert (reversed_.status, reversed_.reason) == (SubsidyStatus.REVERSED, "trainee did not attend")
    announced = unit.published[-1]
    assert isinstance(announced, SubsidyReversed)
    assert (announced.subsidy_id, announced.amount_yuan, announced.reason) == (subsidy_id, 900, reversed_.reason)
    assert unit.fund.approved == 0
    with pytest.raises(Conflict) as twice:
        await handlers.reverse_subsidy(unit, subsidy_id, FINANCE, "again")
    assert twice.value.code == "not_reversible"
    with pytest.raises(NotFound):
        await handlers.reverse_subsidy(unit, uuid.uuid4(), FINANCE, "no such")


async def test_the_fund_s_outlook_burns_what_is_approved(unit: FakeFundingUnit) -> None:
    outlook = await handlers.fund_outlook(unit)
    assert (outlook.burn_rate, outlook.projected_exhaustion) == (None, None)
    await approved_at(unit, uuid.uuid4(), 2)  # both completed on the same day
    outlook = await handlers.fund_outlook(unit)
    assert outlook.position.available == POLICY.fund_yuan - 1_800 and outlook.burn_rate == 1_800
    assert outlook.projected_exhaustion is not None


async def test_the_summary_and_an_institution_s_statement(unit: FakeFundingUnit) -> None:
    school = uuid.uuid4()
    await approved_at(unit, school, 2)
    failed = await enrol(unit, institution=school)
    await complete(unit, completion(failed, passed=False))
    summary = await handlers.summary(unit)
    assert [(t.status, t.tier, t.count) for t in summary.by_status_and_tier] == [
        (SubsidyStatus.APPROVED, Tier.PROFESSIONAL, 2),
        (SubsidyStatus.REJECTED, Tier.PROFESSIONAL, 1),
    ]
    assert [(t.status, t.reason) for t in summary.rejections_by_reason] == [
        (SubsidyStatus.REJECTED, "assessment_failed")
    ]
    assert summary.ledger == {"reserve": 2_700, "release": 2_700, "approve": 1_800}
    first = await handlers.statement(unit, school, details=True, limit=2, offset=0)
    assert (first.subsidy_count, first.next_offset, len(first.page or [])) == (3, 2, 2)
    last = await handlers.statement(unit, school, details=True, limit=2, offset=2)
    assert (last.next_offset, len(last.page or [])) == (None, 1)
    totals = await handlers.statement(unit, school, details=False, limit=2, offset=0)
    assert totals.page is None and totals.by == ("status", "tier", "reason") and len(totals.totals) == 2
