"""The enrolment rules, decided without I/O."""

import uuid
from datetime import date

from enrollment.domain import (
    EnrollmentStatus,
    History,
    age_on,
    decide_completion,
    decide_dates,
    decide_enrolment,
    decide_withdrawal,
)
from enrollment.policy import load_policy
from plan_events import Tier
from plan_runtime.http import status_of

VILLAGE_ROOM, CLOUD_STUDIO = uuid.uuid4(), uuid.uuid4()
POLICY = load_policy()
TODAY = date(2026, 11, 26)
OPEN = EnrollmentStatus.OPEN


def test_a_newcomer_starts_with_basic_and_not_higher() -> None:
    assert decide_enrolment(Tier.BASIC, VILLAGE_ROOM, History()) is None
    refusal = decide_enrolment(Tier.PROFESSIONAL, VILLAGE_ROOM, History())
    assert refusal is not None and refusal.code == "tier_out_of_order" and refusal.field == "tier"


def test_tiers_follow_passed_courses() -> None:
    assert decide_enrolment(Tier.PROFESSIONAL, VILLAGE_ROOM, History(passed={Tier.BASIC})) is None
    refusal = decide_enrolment(Tier.SENIOR, VILLAGE_ROOM, History(passed={Tier.BASIC}))
    assert refusal is not None and refusal.code == "tier_out_of_order"


def test_one_open_enrolment_per_tier_and_the_other_institution_is_never_named() -> None:
    here = History(open={Tier.BASIC: VILLAGE_ROOM})
    assert decide_enrolment(Tier.BASIC, VILLAGE_ROOM, here).code == "already_enrolled"  # type: ignore[union-attr]
    elsewhere = decide_enrolment(Tier.BASIC, CLOUD_STUDIO, here)
    assert elsewhere is not None and elsewhere.code == "enrolled_elsewhere"
    assert str(VILLAGE_ROOM) not in elsewhere.message


def test_a_passed_tier_is_not_taken_again() -> None:
    refusal = decide_enrolment(Tier.BASIC, CLOUD_STUDIO, History(passed={Tier.BASIC}))
    assert refusal is not None and refusal.code == "tier_already_completed"


def test_a_course_is_completed_no_sooner_than_the_minimum_length() -> None:
    start = date(2020, 8, 8)
    short = decide_completion(OPEN, start, date(2020, 8, 22), POLICY, TODAY)
    assert short is not None and (short.code, short.field, status_of(short)) == (
        "course_too_short",
        "completed_on",
        422,
    )
    assert "2020-08-23" in short.message
    assert decide_completion(OPEN, start, date(2020, 8, 23), POLICY, TODAY) is None


def test_only_an_open_enrolment_can_be_completed_or_withdrawn() -> None:
    done = decide_completion(EnrollmentStatus.COMPLETED, date(2020, 1, 1), date(2020, 3, 1), POLICY, TODAY)
    assert done is not None and done.code == "enrollment_not_open"
    gone = decide_withdrawal(EnrollmentStatus.WITHDRAWN)
    assert gone is not None and gone.code == "enrollment_not_open"
    assert decide_withdrawal(OPEN) is None


def test_the_shipped_targets_are_the_plans() -> None:
    assert POLICY.targets["plan"] == {Tier.BASIC: 100_000, Tier.PROFESSIONAL: 10_000, Tier.SENIOR: 200}
    assert POLICY.targets["2020"] == {Tier.BASIC: 20_000, Tier.PROFESSIONAL: 2_000, Tier.SENIOR: 50}


def test_a_completion_ends_inside_the_plan_period_and_not_in_the_future() -> None:
    start = date(2021, 12, 1)
    late = decide_completion(OPEN, start, date(2022, 1, 1), POLICY, TODAY)
    assert late is not None and (late.code, late.field) == ("outside_plan_period", "completed_on")
    assert decide_completion(OPEN, start, date(2021, 12, 31), POLICY, TODAY) is None
    ahead = decide_completion(OPEN, date(2020, 8, 8), date(2020, 9, 1), POLICY, date(2020, 8, 30))
    assert ahead is not None and (ahead.code, ahead.field) == ("date_in_future", "completed_on")
    far = decide_completion(OPEN, start, date(9999, 12, 31), POLICY, date(9999, 12, 31))
    assert far is not None and far.code == "outside_plan_period"


def test_a_course_starts_inside_the_plan_period_early_enough_to_end_in_it() -> None:
    born = date(1998, 8, 8)
    assert decide_dates(date(2020, 1, 1), born, POLICY, TODAY) is None
    assert decide_dates(date(2021, 12, 16), born, POLICY, TODAY) is None  # ends on the period's last day
    for day in (date(2019, 12, 31), date(2021, 12, 17), date(1900, 1, 1), date(9999, 12, 31)):
        refusal = decide_dates(day, born, POLICY, date.max)
        assert refusal is not None and (refusal.code, refusal.field) == ("outside_plan_period", "starts_on"), day
    ahead = decide_dates(date(2020, 9, 1), born, POLICY, date(2020, 8, 30))
    assert ahead is not None and ahead.code == "date_in_future"


def test_trainees_are_of_training_age_on_the_day_their_course_starts() -> None:
    start = date(2020, 8, 8)
    assert age_on(date(2004, 8, 8), start) == 16 and age_on(date(2004, 8, 9), start) == 15
    assert decide_dates(start, date(2004, 8, 8), POLICY, TODAY) is None
    assert decide_dates(start, date(1959, 8, 9), POLICY, TODAY) is None  # 60
    for born in (date(2004, 8, 9), date(1959, 8, 8), date(2020, 1, 1)):  # 15, 61, a baby
        refusal = decide_dates(start, born, POLICY, TODAY)
        assert refusal is not None and (refusal.code, refusal.field) == ("age_out_of_range", "id_number"), born
