"""Eligibility as pure functions: which rule fired, on which evidence. No I/O, no clock."""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from uuid import UUID

from plan_events import EligibilityRoute
from talent_card.rules import IntroducedRule, Rule


class EvidenceKind(StrEnum):
    FOLLOWERS = "followers"  # value = follower count on `platform`
    ANNUAL_SALES = "annual_sales"  # value = yuan of live-commerce sales in a year
    AWARD = "award"  # level = national | provincial | municipal
    LOCAL_PRESENCE = "local_presence"  # detail = employer or business in the city


@dataclass(frozen=True)
class Evidence:
    id: UUID
    kind: EvidenceKind
    status: str  # declared | verified | rejected
    value: int | None = None
    level: str | None = None
    platform: str | None = None
    detail: str | None = None

    def describe(self) -> str:
        if self.kind == EvidenceKind.FOLLOWERS:
            what = f"{self.value or 0:,} followers on {self.platform}"
        elif self.kind == EvidenceKind.ANNUAL_SALES:
            what = f"{self.value or 0:,} yuan annual live-commerce sales"
        elif self.kind == EvidenceKind.AWARD:
            what = f"{self.level} award: {self.detail}"
        else:
            what = f"works or runs a business in the city: {self.detail}"
        return f"{what} ({self.status}, evidence {self.id})"


@dataclass(frozen=True)
class Determination:
    person_id: str
    route: EligibilityRoute
    rule_id: str
    rule_version: str
    eligible: bool
    evidence: tuple[str, ...]  # what the rule relied on, in words
    explanation: str


def introduced_talent(person_id: str, evidence: list[Evidence], rule: IntroducedRule) -> Determination:
    verified = [e for e in evidence if e.status == "verified"]
    influence = [
        e
        for e in verified
        if (e.kind == EvidenceKind.FOLLOWERS and (e.value or 0) >= rule.min_followers)
        or (e.kind == EvidenceKind.ANNUAL_SALES and (e.value or 0) >= rule.min_annual_sales_yuan)
        or (e.kind == EvidenceKind.AWARD and e.level in rule.qualifying_award_levels)
    ]
    local = [e for e in verified if e.kind == EvidenceKind.LOCAL_PRESENCE]
    missing = []
    if not influence:
        missing.append(
            f"no verified influence meeting the thresholds (>= {rule.min_followers:,} followers, or >= "
            f"{rule.min_annual_sales_yuan:,} yuan annual sales, or a {'/'.join(sorted(rule.qualifying_award_levels))}"
            " award)"
        )
    if rule.requires_local_presence and not local:
        missing.append("no verified work or business in the city")
    used = tuple(e.describe() for e in influence + local)
    explanation = "eligible: " + "; ".join(used) if not missing else "not yet: " + "; ".join(missing)
    return Determination(person_id, EligibilityRoute.INTRODUCED, rule.id, rule.version, not missing, used, explanation)


@dataclass(frozen=True)
class PlanProgress:
    person_id: str
    senior_completed_on: date | None
    senior_subsidy_id: UUID | None


def plan_talent(progress: PlanProgress, rule: Rule) -> Determination:
    facts = []
    if progress.senior_completed_on:
        facts.append(f"passed the senior course on {progress.senior_completed_on.isoformat()}")
    if progress.senior_subsidy_id:
        facts.append(f"senior subsidy {progress.senior_subsidy_id} approved")
    eligible = bool(progress.senior_completed_on and progress.senior_subsidy_id)
    waiting = (
        ""
        if eligible
        else " (waiting for "
        + ("the approved subsidy" if progress.senior_completed_on else "the senior completion")
        + ")"
    )
    return Determination(
        progress.person_id,
        EligibilityRoute.PLAN,
        rule.id,
        rule.version,
        eligible,
        tuple(facts),
        ("eligible: " if eligible else "not yet: ") + "; ".join(facts) + waiting,
    )
