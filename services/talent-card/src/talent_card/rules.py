"""The green-card rules, loaded from a versioned TOML file (no thresholds in code)."""

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_RULES = Path(__file__).parent / "rules.toml"


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str


class IntroducedRule(Rule):
    min_followers: int = Field(gt=0)
    min_annual_sales_yuan: int = Field(gt=0)
    qualifying_award_levels: frozenset[str]
    requires_local_presence: bool = True


class Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    plan: Rule
    introduced: IntroducedRule


def load_rules(path: Path = DEFAULT_RULES) -> Rules:
    return Rules.model_validate(tomllib.loads(path.read_text()))
