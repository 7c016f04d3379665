"""Eligibility and the notices' workflow as pure functions: which rule fired, on which evidence, and which move a
notice may make. No I/O, no clock. The statuses are the SQL CHECK lists' values (a unit test pins them)."""

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from plan_events import EligibilityRoute, Event, GreenCardEligible
from plan_runtime.errors import Conflict, DomainError
from talent_card.rules import IntroducedRule, Rule

SOURCE = "talent-card"


class EvidenceKind(StrEnum):
    FOLLOWERS = "followers"  # value = follower count on `platform`
    ANNUAL_SALES = "annual_sales"  # value = yuan of live-commerce sales in a year
    AWARD = "award"  # level = national | provincial | municipal
    LOCAL_PRESENCE = "local_presence"  # detail = employer or business in the city


class EvidenceStatus(StrEnum):
    DECLARED = "declared"
    VERIFIED = "verified"  # only verified evidence counts
    REJECTED = "rejected"

    @classmethod
    def decided(cls, verified: bool) -> "EvidenceStatus":
        return cls.VERIFIED if verified else cls.REJECTED


class NoticeStatus(StrEnum):
    WAITING = "waiting"
    ACKNOWLEDGED = "acknowledged"
    ISSUED = "issued"
    DECLINED = "declined"


@dataclass(frozen=True)
class Evidence:
    id: UUID
    kind: EvidenceKind
    status: EvidenceStatus
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
    verified = [e for e in evidence if e.status == EvidenceStatus.VERIFIED]
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


def announce(determination: Determination, notice_id: UUID, at: datetime, cause: Event | None) -> GreenCardEligible:
    """The one event an eligible person's notice is announced with."""
    return GreenCardEligible.create(
        source=SOURCE,
        subject=determination.person_id,
        occurred_at=at,
        caused_by=cause,
        notice_id=notice_id,
        person_id=determination.person_id,
        route=determination.route,
        rule_id=determination.rule_id,
        rule_version=determination.rule_version,
        evidence=list(determination.evidence),
    )


# --- the office's notices ----------------------------------------------------------------------------------

MOVES_TO: dict[NoticeStatus, frozenset[NoticeStatus]] = {
    NoticeStatus.WAITING: frozenset(),  # a notice is opened waiting; nothing moves it back
    NoticeStatus.ACKNOWLEDGED: frozenset({NoticeStatus.WAITING}),
    NoticeStatus.ISSUED: frozenset({NoticeStatus.WAITING, NoticeStatus.ACKNOWLEDGED}),
    NoticeStatus.DECLINED: frozenset({NoticeStatus.WAITING, NoticeStatus.ACKNOWLEDGED}),
}
"""waiting -> acknowledged -> issued | declined; a waiting notice may be decided directly. Target -> from."""


def decide_notice(current: NoticeStatus, to: NoticeStatus) -> DomainError | None:
    """None when a notice in `current` may become `to`; otherwise the refusal, in the office's words."""
    if current in MOVES_TO[to]:
        return None
    return Conflict(f"notice_already_{current}", f"the notice is {current}; it cannot become {to}", "notice_id")


# --- rows at the store's boundary --------------------------------------------------------------------------


@dataclass(frozen=True)
class Talent:
    id: UUID
    person_id: str  # the same pseudonym enrollment uses for this ID number
    id_masked: str
    display_name: str
    created_by: str
    created_at: datetime
    registration_key: str | None  # the Idempotency-Key it was registered with


@dataclass(frozen=True)
class DeterminationRecord:
    """A determination as recorded: why a person was, or was not yet, eligible at that moment."""

    id: int
    person_id: str
    route: EligibilityRoute
    rule_id: str
    rule_version: str
    eligible: bool
    evidence: list[str]
    explanation: str
    at: datetime


@dataclass(frozen=True)
class Notice:
    id: UUID
    person_id: str
    route: EligibilityRoute
    rule_id: str
    rule_version: str
    evidence: list[str]
    id_masked: str | None
    status: NoticeStatus
    card_number: str | None
    decline_reason: str | None
    created_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class NoticeCount:
    route: EligibilityRoute
    status: NoticeStatus
    count: int


@dataclass(frozen=True)
class NoticeFilter:
    status: NoticeStatus | None = None
    route: EligibilityRoute | None = None
    created_from: date | None = None
    created_to: date | None = None

    def admits(self, notice: Notice) -> bool:
        """The filter as a predicate (the in-memory store's; PostgreSQL says the same in SQL)."""
        day = notice.created_at.date()
        return (
            (self.status is None or notice.status == self.status)
            and (self.route is None or notice.route == self.route)
            and (self.created_from is None or day >= self.created_from)
            and (self.created_to is None or day <= self.created_to)
        )


@dataclass(frozen=True)
class Evaluation:
    """A talent with its evidence and what the rules in force say. `recorded`: the determination was recorded
    (a write), and `notice_id` is the notice it opened, if any; a read records nothing and opens no notice."""

    talent: Talent
    evidence: list[Evidence]
    determination: Determination
    recorded: bool = False
    notice_id: UUID | None = None
