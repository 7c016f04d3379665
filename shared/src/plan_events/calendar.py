"""The plan's calendar: dates are the city's (Shijiazhuang, UTC+8), whatever the server's time zone."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

PLAN_TZ = ZoneInfo("Asia/Shanghai")


def plan_today() -> date:
    """Today in the city: a course that ended this morning there is not "in the future" on a UTC server."""
    return datetime.now(PLAN_TZ).date()


class PlanPeriod(BaseModel):
    """The plan's period as a policy states it (each service's own policy file: funding checks it itself)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    starts_on: date
    ends_on: date
    grace_days: int = Field(default=0, ge=0, le=366, description="days after ends_on a course may still end")

    @model_validator(mode="after")
    def _ordered(self) -> "PlanPeriod":
        if self.ends_on < self.starts_on:
            raise ValueError("period: ends_on is before starts_on")
        return self

    @property
    def last_day(self) -> date:
        """The last day a course may end on."""
        return self.ends_on + timedelta(days=self.grace_days)

    def holds(self, day: date, today: date) -> bool:
        """Whether a course that ended on `day` is inside the period (and not in the future)."""
        return self.starts_on <= day <= min(self.last_day, today)
