"""The fund's policy, loaded from a versioned TOML file and checked before the service starts."""

import tomllib
from datetime import date
from pathlib import Path
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from plan_events import Tier
from plan_events.calendar import PlanPeriod

DEFAULT_POLICY = Path(__file__).parent / "policy.toml"


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    fund_yuan: int = Field(gt=0)
    period: PlanPeriod
    rates_yuan: dict[Tier, int]
    targets: dict[Tier, int] = Field(default_factory=dict)
    year_envelopes_yuan: dict[int, int] = Field(default_factory=dict)
    institution_caps_yuan: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _feasible(self) -> "Policy":
        if any(rate <= 0 for rate in self.rates_yuan.values()):
            raise ValueError("rates_yuan: every rate must be a positive number of yuan")
        planned = sum(rate * self.targets.get(tier, 0) for tier, rate in self.rates_yuan.items())
        if planned > self.fund_yuan:
            raise ValueError(f"rates x targets = {planned:,} yuan exceeds fund_yuan = {self.fund_yuan:,}: not feasible")
        if sum(self.year_envelopes_yuan.values()) > self.fund_yuan:
            raise ValueError("year_envelopes_yuan add up to more than fund_yuan")
        for key in self.institution_caps_yuan:
            if key != "default":
                UUID(key)  # raises ValueError naming the bad key
        return self

    def rate(self, tier: Tier) -> int | None:
        return self.rates_yuan.get(tier)

    @property
    def capped(self) -> bool:
        return bool(self.institution_caps_yuan)

    def envelope_year(self, completed_on: date) -> int | None:
        """The year whose envelope limits this completion, if the policy has one."""
        return completed_on.year if completed_on.year in self.year_envelopes_yuan else None

    def institution_cap(self, institution_id: UUID) -> int | None:
        caps = self.institution_caps_yuan
        return caps.get(str(institution_id), caps.get("default"))


class PolicyError(ValueError):
    """The policy file cannot be used; the message says which field and why."""


def load_policy(path: Path = DEFAULT_POLICY) -> Policy:
    try:
        return Policy.model_validate(tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PolicyError(f"{path}: {error}") from error
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'policy'}: {e['msg']}" for e in error.errors())
        raise PolicyError(f"{path}: {problems}") from error
