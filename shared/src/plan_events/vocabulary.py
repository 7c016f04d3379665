"""Words the services share: tiers, target groups, outcomes."""

from enum import StrEnum


class Tier(StrEnum):
    BASIC = "basic"
    PROFESSIONAL = "professional"
    SENIOR = "senior"

    @property
    def prerequisite(self) -> "Tier | None":
        """The tier a person must have completed first (domain assumption: tiers in order)."""
        order = list(Tier)
        index = order.index(self)
        return order[index - 1] if index else None


class TargetGroup(StrEnum):
    COLLEGE_GRADUATE = "college_graduate"
    VOCATIONAL_GRADUATE = "vocational_graduate"
    UNEMPLOYED = "unemployed"
    RURAL_HOUSEHOLD = "rural_household"
    OTHER = "other"


class Mode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class Outcome(StrEnum):
    EMPLOYED = "employed"
    OWN_BUSINESS = "own_business"
    SEEKING = "seeking"


class SubsidyRejection(StrEnum):
    TIER_NOT_SUBSIDISED = "tier_not_subsidised"
    DUPLICATE_CLAIM = "duplicate_claim"
    FUND_EXHAUSTED = "fund_exhausted"
    INSTITUTION_CAP_REACHED = "institution_cap_reached"
    ASSESSMENT_FAILED = "assessment_failed"
    OUTSIDE_PLAN_PERIOD = "outside_plan_period"  # completed outside the fund policy's period (or in the future)


class EligibilityRoute(StrEnum):
    PLAN = "plan"
    INTRODUCED = "introduced"
