"""The enrolment rules, decided without I/O."""

import uuid
from datetime import date

from enrollment.domain import History, decide_completion, decide_enrolment, decide_withdrawal
from enrollment.policy import load_policy
from plan_events import Tier

VILLAGE_ROOM, CLOUD_STUDIO = uuid.uuid4(), uuid.uuid4()
POLICY = load_policy()


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
    short = decide_completion("open", start, date(2020, 8, 22), POLICY)
    assert short is not None and (short.code, short.field, short.status) == ("course_too_short", "completed_on", 422)
    assert "2020-08-23" in short.message
    assert decide_completion("open", start, date(2020, 8, 23), POLICY) is None


def test_only_an_open_enrolment_can_be_completed_or_withdrawn() -> None:
    done = decide_completion("completed", date(2020, 1, 1), date(2020, 3, 1), POLICY)
    assert done is not None and done.code == "enrollment_not_open"
    gone = decide_withdrawal("withdrawn")
    assert gone is not None and gone.code == "enrollment_not_open"
    assert decide_withdrawal("open") is None


def test_the_shipped_targets_are_the_plans() -> None:
    assert POLICY.targets["plan"] == {Tier.BASIC: 100_000, Tier.PROFESSIONAL: 10_000, Tier.SENIOR: 200}
    assert POLICY.targets["2020"] == {Tier.BASIC: 20_000, Tier.PROFESSIONAL: 2_000, Tier.SENIOR: 50}
