"""Enrollment policy: the plan's period, course length, trainees' ages, targets, from a versioned TOML file."""

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from plan_events import Tier
from plan_events.calendar import PlanPeriod

DEFAULT_POLICY = Path(__file__).parent / "policy.toml"


class Trainees(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_age: int = Field(ge=0, le=120)
    max_age: int = Field(ge=0, le=120)


class Refusals(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    flag_share: float = Field(gt=0, le=1)
    flag_min_rows: int = Field(ge=1)


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    min_course_days: int = Field(ge=1, le=365)
    period: PlanPeriod
    trainees: Trainees
    refusals: Refusals
    targets: dict[str, dict[Tier, int]]

    @model_validator(mode="after")
    def _consistent(self) -> "Policy":
        if self.trainees.max_age < self.trainees.min_age:
            raise ValueError("trainees: max_age is below min_age")
        plan = self.targets.get("plan")
        if plan is None:
            raise ValueError("targets.plan is required")
        years = [v for k, v in self.targets.items() if k != "plan"]
        for tier in Tier:
            if years and sum(y.get(tier, 0) for y in years) != plan.get(tier, 0):
                raise ValueError(f"targets: the years' {tier} targets do not add up to targets.plan.{tier}")
        return self


def load_policy(path: Path = DEFAULT_POLICY) -> Policy:
    return Policy.model_validate(tomllib.loads(path.read_text()))
