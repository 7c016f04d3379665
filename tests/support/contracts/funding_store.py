"""The funding store's contract: what the use cases rely on, checked against the PostgreSQL store
(tests/integration/funding/test_store_contract.py) and the in-memory fake (tests/unit/funding/test_store_contract.py).

A module that imports these tests provides a `store` fixture: an empty ledger (no fund yet) implementing
funding.ports.FundingUnit, thrown away after the test.
"""

import uuid
from datetime import date

import pytest

from funding.domain import (
    ApprovalSpan,
    Approved,
    BatchStatus,
    Claim,
    EntryKind,
    FundPosition,
    Held,
    InstitutionStatus,
    NewBatch,
    Rejected,
    Release,
    Reserve,
    SubsidyStatus,
    Withdrawal,
)
from funding.ports import FundingUnit
from plan_events import SubsidyRejection, Tier

AUG = date(2020, 8, 23)
CAUSE = uuid.UUID("00000000-0000-4000-8000-0000000000ca")


def claim(
    tier: Tier = Tier.PROFESSIONAL, trainee: str = "cashmere-host", institution: uuid.UUID | None = None
) -> Claim:
    return Claim(uuid.uuid4(), trainee, institution or uuid.uuid4(), tier)


async def funded(store: FundingUnit, total: int = 10_000) -> FundingUnit:
    await store.ensure_fund(total)
    return store


async def test_the_fund_is_created_once_and_follows_the_policy_s_total(store: FundingUnit) -> None:
    await store.ensure_fund(10_000)
    await store.ensure_fund(12_000)
    await store.lock_fund()
    assert await store.position() == FundPosition(12_000, 0, 0, 0)
    assert await store.approval_span() == ApprovalSpan(None, None, 0)
    assert await store.ledger_sums() == {}


async def test_a_reservation_sets_money_aside_and_an_approval_consumes_it(store: FundingUnit) -> None:
    await funded(store)
    c = claim()
    assert (await store.standing(c)).status is None
    await store.reserve(Reserve(c, 900, "v1"), caused_by=CAUSE)
    standing = await store.standing(c)
    assert (standing.status, standing.reserved_for_claim, standing.available) == (SubsidyStatus.RESERVED, 900, 9_100)
    subsidy_id = await store.approve(Approved(c, 900, "v1", released=900), AUG, caused_by=CAUSE)
    assert await store.position() == FundPosition(10_000, 0, 900, 0)
    found = await store.decision(c.enrollment_id)
    assert found is not None
    subsidy, ledger = found
    assert (subsidy.id, subsidy.status, subsidy.amount_yuan, subsidy.completed_on) == (
        subsidy_id,
        SubsidyStatus.APPROVED,
        900,
        AUG,
    )
    assert subsidy.decided_at is not None and subsidy.policy_version == "v1"
    assert [(line.entry, line.amount_yuan, line.caused_by) for line in ledger] == [
        (EntryKind.RESERVE, 900, CAUSE),
        (EntryKind.RELEASE, 900, CAUSE),
        (EntryKind.APPROVE, 900, CAUSE),
    ]
    assert await store.ledger_sums() == {"reserve": 900, "release": 900, "approve": 900}
    assert await store.approval_span() == ApprovalSpan(AUG, AUG, 900)
    again = Claim(uuid.uuid4(), c.trainee_id, uuid.uuid4(), c.tier)  # the same person, same tier, elsewhere
    assert (await store.standing(again)).already_paid
    assert not (await store.standing(claim(Tier.SENIOR, c.trainee_id))).already_paid


async def test_a_rejection_and_a_withdrawal_give_the_reservation_back(store: FundingUnit) -> None:
    await funded(store)
    rejected, withdrawn, early = claim(), claim(), claim()
    for c in (rejected, withdrawn):
        await store.reserve(Reserve(c, 900, "v1"), caused_by=CAUSE)
    await store.reject(Rejected(rejected, SubsidyRejection.ASSESSMENT_FAILED, "v1", 900), AUG, caused_by=CAUSE)
    await store.withdraw(Withdrawal(withdrawn, Release(withdrawn, 900)), caused_by=CAUSE)
    await store.withdraw(Withdrawal(early, None), caused_by=CAUSE)  # before its enrolment: remembered
    assert await store.position() == FundPosition(10_000, 0, 0, 0)
    found = {s.enrollment_id: s for s in await store.subsidies()}
    assert (found[rejected.enrollment_id].status, found[rejected.enrollment_id].reason) == (
        SubsidyStatus.REJECTED,
        "assessment_failed",
    )
    assert (found[withdrawn.enrollment_id].status, found[withdrawn.enrollment_id].amount_yuan) == (
        SubsidyStatus.WITHDRAWN,
        0,
    )
    assert (await store.standing(early)).status == SubsidyStatus.WITHDRAWN
    assert await store.ledger_sums() == {"reserve": 1_800, "release": 1_800}


async def test_institutions_keep_their_newest_status_whichever_event_told_it(store: FundingUnit) -> None:
    school = uuid.uuid4()
    assert await store.institution(school) is None
    assert await store.note_institution(school, InstitutionStatus.SUSPENDED, 2, None) == InstitutionStatus.SUSPENDED
    assert await store.note_institution(school, InstitutionStatus.ACTIVE, 1, "old news") == InstitutionStatus.SUSPENDED
    assert await store.note_institution(school, InstitutionStatus.SUSPENDED, 2, "fraud") == InstitutionStatus.SUSPENDED
    known = await store.institution(school, lock=True)
    assert known is not None
    assert (known.status, known.status_seq, known.reason) == (InstitutionStatus.SUSPENDED, 2, "fraud")
    assert await store.note_institution(school, InstitutionStatus.ACTIVE, 3, "cleared") == InstitutionStatus.ACTIVE


async def test_a_held_completion_keeps_its_reservation_until_finance_releases_it(store: FundingUnit) -> None:
    await funded(store)
    school = uuid.uuid4()
    await store.note_institution(school, InstitutionStatus.SUSPENDED, 1, "fraud")
    held, open_, nothing = claim(institution=school), claim(institution=school), claim(institution=school)
    await store.reserve(Reserve(held, 900, "v1"), caused_by=CAUSE)
    await store.reserve(Reserve(open_, 900, "v1"), caused_by=CAUSE)
    standing = await store.standing(held)
    assert standing.suspension == "institution suspended: fraud"
    await store.hold(Held(held, standing.suspension, "v1", 900), AUG, True, caused_by=CAUSE)
    await store.hold(Held(nothing, "institution suspended: fraud", "v1", 0), date(2020, 9, 1), False, caused_by=CAUSE)
    assert [(h.claim, h.passed, h.completed_on) for h in await store.held_claims(school)] == [
        (held, True, AUG),
        (nothing, False, date(2020, 9, 1)),
    ]
    assert (await store.standing(held)).status == SubsidyStatus.HELD
    assert await store.release_reservations(school, "auditor-wang", "institution suspended") == (2, 1_800)
    assert await store.position() == FundPosition(10_000, 0, 0, 0)
    statuses = {s.enrollment_id: (s.status, s.amount_yuan) for s in await store.subsidies(institution_id=school)}
    assert statuses[held.enrollment_id] == (SubsidyStatus.HELD, 0)
    assert statuses[open_.enrollment_id] == (SubsidyStatus.RELEASED, 0)
    assert await store.release_reservations(school, "auditor-wang", "again") == (0, 0)


async def test_a_batch_groups_approved_subsidies_and_paying_it_pays_them(store: FundingUnit) -> None:
    await funded(store)
    school = uuid.uuid4()
    claims = [claim(trainee=f"t{i}", institution=school) for i in range(2)]
    ids = sorted([await store.approve(Approved(c, 900, "v1", 0), AUG, caused_by=CAUSE) for c in claims])
    payable = await store.payable(school)
    assert [(p.subsidy_id, p.amount_yuan) for p in payable] == [(i, 900) for i in ids]
    batch_id = uuid.uuid4()
    await store.create_batch(batch_id, NewBatch(school, ids, 1_800), "auditor-wang")
    assert await store.payable(school) == []
    batch = await store.batch(batch_id, lock=True)
    assert batch is not None
    assert (batch.institution_id, batch.subsidy_count, batch.total_yuan, batch.status, batch.created_by) == (
        school,
        2,
        1_800,
        BatchStatus.OPEN,
        "auditor-wang",
    )
    await store.pay_batch(batch_id, "auditor-li")
    paid = await store.batch(batch_id)
    assert paid is not None and (paid.status, paid.paid_by) == (BatchStatus.PAID, "auditor-li")
    assert paid.paid_at is not None
    assert await store.position() == FundPosition(10_000, 0, 1_800, 1_800)
    assert {s.status for s in await store.subsidies(institution_id=school)} == {SubsidyStatus.PAID}
    assert (await store.ledger_sums())["pay"] == 1_800
    assert await store.batch(uuid.uuid4()) is None


async def test_a_reversal_gives_the_approved_yuan_back(store: FundingUnit) -> None:
    await funded(store)
    c = claim()
    subsidy_id = await store.approve(Approved(c, 900, "v1", 0), AUG, caused_by=CAUSE)
    subsidy = await store.subsidy(subsidy_id)
    assert subsidy is not None and subsidy.status == SubsidyStatus.APPROVED and subsidy.batch_id is None
    await store.reverse(subsidy_id, 900, "auditor-wang", "trainee did not attend")
    reversed_ = await store.subsidy(subsidy_id)
    assert reversed_ is not None and (reversed_.status, reversed_.reason) == (
        SubsidyStatus.REVERSED,
        "trainee did not attend",
    )
    assert await store.position() == FundPosition(10_000, 0, 0, 0)
    assert await store.subsidy(uuid.uuid4()) is None
    found = await store.decision(c.enrollment_id)
    assert found is not None and [(line.entry, line.actor, line.reason) for line in found[1]][-1] == (
        EntryKind.REVERSE,
        "auditor-wang",
        "trainee did not attend",
    )


async def test_the_fund_is_never_overspent(store: FundingUnit) -> None:
    await funded(store, 1_000)
    await store.approve(Approved(claim(), 900, "v1", 0), AUG, caused_by=CAUSE)
    with pytest.raises(Exception):  # noqa: B017 (PostgreSQL's CheckViolationError, the fake's Overspent)
        await store.approve(Approved(claim(), 900, "v1", 0), AUG, caused_by=CAUSE)


async def test_a_person_is_approved_once_per_tier(store: FundingUnit) -> None:
    await funded(store)
    await store.approve(Approved(claim(trainee="twice"), 900, "v1", 0), AUG, caused_by=CAUSE)
    with pytest.raises(Exception):  # noqa: B017 (PostgreSQL's UniqueViolationError, the fake's Overspent)
        await store.approve(Approved(claim(trainee="twice"), 900, "v1", 0), AUG, caused_by=CAUSE)


async def test_standing_sums_the_institution_s_commitments_and_the_year_s_approvals_only_on_request(
    store: FundingUnit,
) -> None:
    await funded(store)
    school = uuid.uuid4()
    await store.approve(Approved(claim(trainee="a", institution=school), 900, "v1", 0), AUG, caused_by=CAUSE)
    await store.reserve(Reserve(claim(trainee="b", institution=school), 900, "v1"), caused_by=CAUSE)
    await store.approve(Approved(claim(trainee="c"), 900, "v1", 0), date(2021, 3, 1), caused_by=CAUSE)
    mine = claim(trainee="d", institution=school)
    plain = await store.standing(mine)
    assert (plain.institution_committed, plain.year_approved) == (0, 0)
    asked = await store.standing(mine, capped=True, year=2020)
    assert (asked.institution_committed, asked.year_approved, asked.available) == (1_800, 900, 7_300)


async def test_subsidies_filter_order_and_page_and_totals_group(store: FundingUnit) -> None:
    await funded(store)
    school = uuid.uuid4()
    late = claim(trainee="late", institution=school)
    early = claim(trainee="early", institution=school)
    senior = claim(Tier.SENIOR, trainee="senior", institution=school)
    waiting = claim(trainee="waiting", institution=school)
    await store.approve(Approved(late, 900, "v1", 0), date(2021, 1, 1), caused_by=CAUSE)
    await store.approve(Approved(early, 900, "v1", 0), AUG, caused_by=CAUSE)
    await store.reject(Rejected(senior, SubsidyRejection.FUND_EXHAUSTED, "v1", 0), AUG, caused_by=CAUSE)
    await store.reserve(Reserve(waiting, 900, "v1"), caused_by=CAUSE)
    await store.approve(Approved(claim(trainee="elsewhere"), 900, "v1", 0), AUG, caused_by=CAUSE)
    everything = await store.subsidies(institution_id=school)
    assert [s.trainee_id for s in everything][-2:] == ["late", "waiting"]  # by completion date, none last
    assert {s.trainee_id for s in everything[:2]} == {"early", "senior"}
    assert [s.trainee_id for s in await store.subsidies(institution_id=school, limit=2, offset=2)] == [
        "late",
        "waiting",
    ]
    assert [s.trainee_id for s in await store.subsidies(institution_id=school, tier=Tier.SENIOR)] == ["senior"]
    assert [s.trainee_id for s in await store.subsidies(status=SubsidyStatus.RESERVED)] == ["waiting"]
    assert [
        s.trainee_id
        for s in await store.subsidies(
            institution_id=school, completed_from=date(2020, 9, 1), completed_to=date(2021, 1, 1)
        )
    ] == ["late"]
    by_status = [(t.status, t.tier, t.reason, t.count, t.amount_yuan) for t in await store.totals_by("status")]
    assert by_status == [
        (SubsidyStatus.APPROVED, None, None, 3, 2_700),
        (SubsidyStatus.REJECTED, None, None, 1, 0),
        (SubsidyStatus.RESERVED, None, None, 1, 900),
    ]
    mine = await store.totals_by("status", "tier", "reason", institution_id=school)
    assert [(t.status, t.tier, t.reason, t.count) for t in mine] == [
        (SubsidyStatus.APPROVED, Tier.PROFESSIONAL, None, 2),
        (SubsidyStatus.REJECTED, Tier.SENIOR, "fund_exhausted", 1),
        (SubsidyStatus.RESERVED, Tier.PROFESSIONAL, None, 1),
    ]
    assert await store.approval_span() == ApprovalSpan(AUG, date(2021, 1, 1), 2_700)


async def test_a_run_decided_together_reads_its_own_writes_and_leaves_them_all(store: FundingUnit) -> None:
    await funded(store, 1_800)
    first, second, third = claim(), claim(trainee="silk-weaver"), claim(trainee="tea-picker")
    async with store.deciding([first, second, third, first]):
        await store.reserve(Reserve(first, 900, "v1"), caused_by=CAUSE)
        assert (await store.standing(first)).status == SubsidyStatus.RESERVED
        assert (await store.standing(second)).available == 900
        subsidy_id = await store.approve(Approved(first, 900, "v1", released=900), AUG, caused_by=CAUSE)
        await store.approve(Approved(second, 900, "v1", released=0), AUG, caused_by=CAUSE)
        standing = await store.standing(third)
        assert (standing.available, standing.status) == (0, None)
        again = Claim(uuid.uuid4(), first.trainee_id, uuid.uuid4(), first.tier)  # not in the run: read after it
        assert (await store.standing(again)).already_paid
    assert await store.position() == FundPosition(1_800, 0, 1_800, 0)
    found = await store.decision(first.enrollment_id)
    assert found is not None and found[0].id == subsidy_id
    assert [line.entry for line in found[1]] == [EntryKind.RESERVE, EntryKind.RELEASE, EntryKind.APPROVE]
    assert await store.ledger_sums() == {"reserve": 900, "release": 900, "approve": 1_800}


async def test_a_claim_s_row_keeps_its_person_whatever_a_later_decision_names(store: FundingUnit) -> None:
    await funded(store)
    paid, held = claim(), claim(trainee="silk-weaver")
    await store.approve(Approved(paid, 900, "v1", released=0), AUG, caused_by=CAUSE)
    await store.hold(Held(held, "institution suspended", "v1", 0), AUG, True, caused_by=CAUSE)
    named = Claim(held.enrollment_id, paid.trainee_id, held.institution_id, held.tier)  # another person named
    await store.approve(Approved(named, 900, "v1", released=0), AUG, caused_by=CAUSE)  # the row's person is paid
    found = await store.decision(held.enrollment_id)
    assert found is not None
    assert (found[0].trainee_id, found[0].status) == ("silk-weaver", SubsidyStatus.APPROVED)
