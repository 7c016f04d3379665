"""The subsidy rules, decided without any I/O."""

import uuid
from datetime import date

import pytest

from funding.domain import Approved, Claim, Held, Rejected, Standing, decide_reservation, decide_subsidy, release
from funding.policy import load_policy
from plan_events import SubsidyRejection, Tier

POLICY = load_policy()
VILLAGE_ROOM = uuid.UUID("00000000-0000-4000-8000-00000000a001")
AUG = date(2020, 8, 23)
TODAY = date(2026, 11, 26)


def claim(tier: Tier = Tier.PROFESSIONAL, institution: uuid.UUID = VILLAGE_ROOM) -> Claim:
    return Claim(uuid.uuid4(), "cashmere-host", institution, tier)


def standing(
    held: int = 0, paid: bool = False, available: int = 10_000_000, committed: int = 0, suspension: str | None = None
) -> Standing:
    return Standing(held, paid, available, committed, suspension=suspension)


def test_a_passed_professional_course_earns_900_yuan() -> None:
    decision = decide_subsidy(claim(), True, AUG, standing(), POLICY, TODAY)
    assert isinstance(decision, Approved) and decision.amount == 900
    assert decision.policy_version == POLICY.version


def test_a_passed_senior_course_earns_5000_yuan_from_its_reservation() -> None:
    decision = decide_subsidy(claim(Tier.SENIOR), True, AUG, standing(held=5000, available=0), POLICY, TODAY)
    assert isinstance(decision, Approved) and (decision.amount, decision.released) == (5000, 5000)


def test_basic_courses_are_not_paid_from_the_fund() -> None:
    assert decide_subsidy(claim(Tier.BASIC), True, AUG, standing(), POLICY, TODAY) is None
    assert decide_reservation(claim(Tier.BASIC), standing(), POLICY) is None


@pytest.mark.parametrize(
    ("passed", "situation", "reason"),
    [
        (False, standing(held=900), SubsidyRejection.ASSESSMENT_FAILED),
        (True, standing(paid=True), SubsidyRejection.DUPLICATE_CLAIM),
        (True, standing(available=899), SubsidyRejection.FUND_EXHAUSTED),
    ],
)
def test_refusals_name_their_reason_and_release_what_was_held(
    passed: bool, situation: Standing, reason: SubsidyRejection
) -> None:
    decision = decide_subsidy(claim(), passed, AUG, situation, POLICY, TODAY)
    assert isinstance(decision, Rejected) and decision.reason == reason
    assert decision.released == situation.reserved_for_claim


def test_a_reserved_claim_is_paid_even_when_nothing_else_is_available() -> None:
    assert isinstance(decide_subsidy(claim(), True, AUG, standing(held=900, available=0), POLICY, TODAY), Approved)


def test_an_institution_over_its_cap_is_refused() -> None:
    capped = POLICY.model_copy(update={"institution_caps_yuan": {str(VILLAGE_ROOM): 1800}})
    decision = decide_subsidy(claim(), True, AUG, standing(committed=1800), capped, TODAY)
    assert isinstance(decision, Rejected) and decision.reason == SubsidyRejection.INSTITUTION_CAP_REACHED
    assert decide_reservation(claim(), standing(committed=1800), capped) is None


def test_a_year_envelope_limits_that_year_only() -> None:
    enveloped = POLICY.model_copy(update={"year_envelopes_yuan": {2020: 900}})
    full = Standing(0, False, 10_000_000, 0, year_approved=900)
    decision = decide_subsidy(claim(), True, AUG, full, enveloped, TODAY)
    assert isinstance(decision, Rejected) and decision.reason == SubsidyRejection.FUND_EXHAUSTED
    assert isinstance(decide_subsidy(claim(), True, date(2021, 3, 1), standing(), enveloped, TODAY), Approved)


def test_reservations_only_when_the_money_is_there_and_only_once() -> None:
    assert decide_reservation(claim(), standing(available=899), POLICY) is None
    assert decide_reservation(claim(), standing(held=900), POLICY) is None
    reservation = decide_reservation(claim(), standing(), POLICY)
    assert reservation is not None and reservation.amount == 900


def test_a_withdrawal_releases_exactly_the_reservation() -> None:
    assert release(claim(), standing()) is None
    released = release(claim(), standing(held=900))
    assert released is not None and released.amount == 900


@pytest.mark.parametrize(
    "completed_on", [date(2019, 12, 31), date(2022, 1, 1), date(9999, 12, 31), date(1, 1, 1), date(2021, 6, 2)]
)
def test_no_yuan_outside_the_plan_period_or_in_the_future(completed_on: date) -> None:
    decision = decide_subsidy(claim(), True, completed_on, standing(held=900), POLICY, date(2021, 6, 1))
    assert isinstance(decision, Rejected) and decision.reason == SubsidyRejection.OUTSIDE_PLAN_PERIOD
    assert decision.released == 900  # the reservation goes back to the fund
    inside = decide_subsidy(claim(), True, date(2021, 12, 31), standing(), POLICY, TODAY)
    assert isinstance(inside, Approved)


def test_a_suspended_institution_s_passed_completion_is_held_with_its_reservation() -> None:
    held = decide_subsidy(
        claim(), True, AUG, standing(held=900, suspension="institution suspended: audit"), POLICY, TODAY
    )
    assert isinstance(held, Held) and held.reserved == 900 and "audit" in held.reason
    failed = decide_subsidy(claim(), False, AUG, standing(held=900, suspension="suspended"), POLICY, TODAY)
    assert isinstance(failed, Rejected) and failed.reason == SubsidyRejection.ASSESSMENT_FAILED  # nothing to hold
    assert decide_reservation(claim(), standing(suspension="suspended"), POLICY) is None
