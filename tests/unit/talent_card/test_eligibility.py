"""Green-card eligibility decided without I/O: the rule, its version and the evidence it used."""

import uuid
from datetime import date

from plan_events import EligibilityRoute
from talent_card.domain import Evidence, EvidenceKind, PlanProgress, introduced_talent, plan_talent
from talent_card.rules import load_rules

RULES = load_rules()
STREAMER = "talent-cashmere-queen"


def evidence(kind: EvidenceKind, status: str = "verified", **fields: object) -> Evidence:
    return Evidence(uuid.uuid4(), kind, status, **fields)  # type: ignore[arg-type]


LOCAL = evidence(EvidenceKind.LOCAL_PRESENCE, detail="runs a cashmere shop in Shijiazhuang")


def test_verified_followers_over_the_threshold_and_local_presence_make_an_introduced_talent_eligible() -> None:
    followers = evidence(EvidenceKind.FOLLOWERS, value=2_500_000, platform="Douyin")
    decision = introduced_talent(STREAMER, [followers, LOCAL], RULES.introduced)
    assert decision.eligible and decision.route == EligibilityRoute.INTRODUCED
    assert (decision.rule_id, decision.rule_version) == ("introduced-influence", "1")
    assert any("2,500,000 followers on Douyin" in e for e in decision.evidence)


def test_declared_or_rejected_or_small_evidence_does_not_count_and_the_explanation_says_what_is_missing() -> None:
    for unconvincing in (
        evidence(EvidenceKind.FOLLOWERS, status="declared", value=5_000_000, platform="Douyin"),
        evidence(EvidenceKind.FOLLOWERS, status="rejected", value=5_000_000, platform="Douyin"),
        evidence(EvidenceKind.FOLLOWERS, value=999_999, platform="Kuaishou"),
        evidence(EvidenceKind.AWARD, level="municipal", detail="city live-commerce star"),
    ):
        decision = introduced_talent(STREAMER, [unconvincing, LOCAL], RULES.introduced)
        assert not decision.eligible
        assert decision.explanation.startswith("not yet: no verified influence")


def test_influence_without_presence_in_the_city_is_not_enough() -> None:
    sales = evidence(EvidenceKind.ANNUAL_SALES, value=12_000_000)
    decision = introduced_talent(STREAMER, [sales], RULES.introduced)
    assert not decision.eligible and "no verified work or business in the city" in decision.explanation


def test_a_lower_threshold_in_the_rules_changes_the_decision() -> None:
    followers = evidence(EvidenceKind.FOLLOWERS, value=600_000, platform="Taobao Live")
    relaxed = RULES.introduced.model_copy(update={"min_followers": 500_000, "version": "2"})
    assert not introduced_talent(STREAMER, [followers, LOCAL], RULES.introduced).eligible
    decision = introduced_talent(STREAMER, [followers, LOCAL], relaxed)
    assert decision.eligible and decision.rule_version == "2"


def test_the_plan_route_needs_both_the_senior_completion_and_its_approved_subsidy() -> None:
    completed = PlanProgress("tr-1", date(2020, 11, 2), None)
    assert not plan_talent(completed, RULES.plan).eligible
    assert "waiting for the approved subsidy" in plan_talent(completed, RULES.plan).explanation
    paid_first = PlanProgress("tr-1", None, uuid.uuid4())
    assert "waiting for the senior completion" in plan_talent(paid_first, RULES.plan).explanation
    both = plan_talent(PlanProgress("tr-1", date(2020, 11, 2), uuid.uuid4()), RULES.plan)
    assert both.eligible and both.rule_id == "plan-senior-talent"
