"""Finance's command rules and the fund's outlook, decided without any I/O: every branch."""

import uuid
from datetime import UTC, date, datetime

import pytest

from funding.domain import (
    DECIDED,
    SETTLED,
    ApprovalSpan,
    BatchStatus,
    Claim,
    InstitutionStatus,
    KnownInstitution,
    Payable,
    PaymentBatch,
    Release,
    Standing,
    Subsidy,
    SubsidyStatus,
    burn_rate,
    decide_payment,
    decide_payment_batch,
    decide_release,
    decide_reservation,
    decide_reversal,
    decide_subsidy,
    decide_withdrawal,
    exhaustion,
)
from funding.policy import load_policy
from plan_events import Tier
from plan_runtime.errors import Conflict, DomainError, NotFound

POLICY = load_policy()
SCHOOL = uuid.UUID("00000000-0000-4000-8000-00000000a001")
NOW = datetime(2020, 9, 1, tzinfo=UTC)
AUG = date(2020, 8, 23)


def known(status: InstitutionStatus) -> KnownInstitution:
    return KnownInstitution(SCHOOL, status, 1, None, NOW)


def batch(status: BatchStatus = BatchStatus.OPEN, total: int = 1_800) -> PaymentBatch:
    return PaymentBatch(uuid.uuid4(), SCHOOL, 2, total, status, "auditor-wang", NOW, None, None)


def subsidy(status: SubsidyStatus = SubsidyStatus.APPROVED, batch_id: uuid.UUID | None = None) -> Subsidy:
    return Subsidy(
        uuid.uuid4(), uuid.uuid4(), "host", SCHOOL, Tier.PROFESSIONAL, status, 900, None, "v1", AUG, batch_id, NOW,
        True, NOW,
    )  # fmt: skip


def refused(error: DomainError, kind: type[DomainError], code: str, field: str) -> bool:
    return type(error) is kind and (error.code, error.field) == (code, field)


PAYABLE = [Payable(uuid.uuid4(), 900), Payable(uuid.uuid4(), 900)]


# --- releasing a suspended institution's reservations ---


@pytest.mark.parametrize("institution", [None, known(InstitutionStatus.ACTIVE)])
def test_only_a_suspended_institution_s_reservations_are_released(institution: KnownInstitution | None) -> None:
    with pytest.raises(Conflict) as caught:
        decide_release(institution)
    assert refused(caught.value, Conflict, "institution_not_suspended", "institution_id")
    decide_release(known(InstitutionStatus.SUSPENDED))  # allowed


# --- payment batches ---


def test_a_batch_groups_what_the_ledger_says_when_the_declared_figures_match() -> None:
    for institution in (None, known(InstitutionStatus.ACTIVE)):
        new = decide_payment_batch(SCHOOL, institution, PAYABLE, 2, 1_800)
        assert (new.institution_id, new.subsidy_ids, new.subsidy_count, new.total_yuan) == (
            SCHOOL,
            [p.subsidy_id for p in PAYABLE],
            2,
            1_800,
        )


@pytest.mark.parametrize(
    ("institution", "payable", "count", "total", "code", "field"),
    [
        (known(InstitutionStatus.SUSPENDED), PAYABLE, 2, 1_800, "institution_suspended", "institution_id"),
        (None, [], 1, 900, "nothing_to_pay", "institution_id"),
        (None, PAYABLE, 3, 1_800, "totals_mismatch", "declared_count"),
        (None, PAYABLE, 2, 1_801, "totals_mismatch", "declared_total_yuan"),
    ],
)
def test_a_batch_is_refused(
    institution: KnownInstitution | None, payable: list[Payable], count: int, total: int, code: str, field: str
) -> None:
    with pytest.raises(Conflict) as caught:
        decide_payment_batch(SCHOOL, institution, payable, count, total)
    assert refused(caught.value, Conflict, code, field)


def test_a_batch_is_paid_once_for_its_total_while_its_institution_is_not_suspended() -> None:
    decide_payment(batch(), None, 1_800)
    decide_payment(batch(), known(InstitutionStatus.ACTIVE), 1_800)
    for paying, institution, total, code, field in [
        (batch(BatchStatus.PAID), None, 1_800, "batch_already_paid", "batch_id"),
        (batch(), known(InstitutionStatus.SUSPENDED), 1_800, "institution_suspended", "institution_id"),
        (batch(), None, 900, "totals_mismatch", "declared_total_yuan"),
    ]:
        with pytest.raises(Conflict) as caught:
            decide_payment(paying, institution, total)
        assert refused(caught.value, Conflict, code, field)


# --- reversals ---


def test_only_an_approved_subsidy_outside_any_batch_is_reversed() -> None:
    approved = subsidy()
    assert decide_reversal(approved.id, approved) is approved
    with pytest.raises(NotFound) as missing:
        decide_reversal(approved.id, None)
    assert refused(missing.value, NotFound, "subsidy_not_found", "subsidy_id")
    with pytest.raises(Conflict) as paid:
        decide_reversal(approved.id, subsidy(SubsidyStatus.PAID))
    assert refused(paid.value, Conflict, "not_reversible", "subsidy_id") and "this one is paid" in paid.value.message
    with pytest.raises(Conflict) as batched:
        decide_reversal(approved.id, subsidy(batch_id=uuid.uuid4()))
    assert refused(batched.value, Conflict, "in_payment_batch", "subsidy_id")


# --- claims seen again ---


def claim() -> Claim:
    return Claim(uuid.uuid4(), "host", SCHOOL, Tier.PROFESSIONAL)


def seen(status: SubsidyStatus | None, held: int = 0, suspension: str | None = None) -> Standing:
    return Standing(held, False, 10_000_000, 0, status=status, suspension=suspension)


@pytest.mark.parametrize("status", list(SubsidyStatus))
def test_an_enrolment_reserves_only_when_nothing_is_known_of_its_claim(status: SubsidyStatus) -> None:
    assert decide_reservation(claim(), seen(status), POLICY) is None
    assert decide_reservation(claim(), seen(None), POLICY) is not None


@pytest.mark.parametrize("status", sorted(DECIDED))
def test_a_completion_seen_again_is_decided_once(status: SubsidyStatus) -> None:
    assert decide_subsidy(claim(), True, AUG, seen(status), POLICY, date(2021, 1, 1)) is None


def test_a_settled_claim_is_one_of_those_decided_or_held() -> None:
    assert set(SubsidyStatus) - SETTLED == {SubsidyStatus.RESERVED, SubsidyStatus.RELEASED}
    assert {SubsidyStatus.HELD} == SETTLED - DECIDED


def test_a_held_completion_stays_held_while_suspended_and_is_decided_once_active() -> None:
    held = seen(SubsidyStatus.HELD, 900, suspension="institution suspended")
    assert decide_subsidy(claim(), True, AUG, held, POLICY, date(2021, 1, 1)) is None
    assert decide_subsidy(claim(), True, AUG, seen(SubsidyStatus.HELD, 900), POLICY, date(2021, 1, 1)) is not None
    assert decide_subsidy(claim(), True, AUG, seen(SubsidyStatus.RESERVED, 900), POLICY, date(2021, 1, 1))
    assert decide_subsidy(claim(), True, AUG, seen(SubsidyStatus.RELEASED), POLICY, date(2021, 1, 1))


@pytest.mark.parametrize(
    "status", [s for s in SubsidyStatus if s not in (SubsidyStatus.RESERVED, SubsidyStatus.RELEASED)]
)
def test_a_withdrawal_changes_nothing_once_the_claim_is_settled(status: SubsidyStatus) -> None:
    assert decide_withdrawal(claim(), seen(status)) is None


def test_a_withdrawal_gives_back_what_was_reserved_or_is_remembered() -> None:
    c = claim()
    reserved = decide_withdrawal(c, seen(SubsidyStatus.RESERVED, 900))
    assert reserved is not None and reserved.release == Release(c, 900)
    early = decide_withdrawal(c, seen(None))
    assert early is not None and early.release is None
    released = decide_withdrawal(c, seen(SubsidyStatus.RELEASED))
    assert released is not None and released.release is None


# --- the fund's outlook ---


def test_the_burn_rate_is_approved_yuan_per_day_of_completions() -> None:
    assert burn_rate(ApprovalSpan(None, None, 0)) is None
    assert burn_rate(ApprovalSpan(AUG, AUG, 0)) is None
    assert burn_rate(ApprovalSpan(AUG, AUG, 900)) == 900
    assert burn_rate(ApprovalSpan(date(2020, 8, 1), date(2020, 8, 10), 9_000)) == 900


def test_the_fund_runs_out_when_what_is_left_is_burnt() -> None:
    assert exhaustion(None, 9_000, 900) is None
    assert exhaustion(AUG, 9_000, None) is None
    assert exhaustion(AUG, 9_000, 900) == date(2020, 9, 2)
    assert exhaustion(AUG, 10**15, 0.001) is None  # past the calendar: never, as far as anyone can tell
