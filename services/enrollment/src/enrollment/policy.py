"""Enrollment policy: the minimum course length and the plan's targets, from a versioned TOML file."""

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from plan_events import Tier

DEFAULT_POLICY = Path(__file__).parent / "policy.toml"


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    min_course_days: int = Field(ge=1, le=365)
    targets: dict[str, dict[Tier, int]]

    @model_validator(mode="after")
    def _years_add_up(self) -> "Policy":
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
