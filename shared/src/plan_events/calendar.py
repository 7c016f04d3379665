"""The plan's calendar: dates are the city's (Shijiazhuang, UTC+8), whatever the server's time zone."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

PLAN_TZ = ZoneInfo("Asia/Shanghai")


def plan_today() -> date:
    """Today in the city: a course that ended this morning there is not "in the future" on a UTC server."""
    return datetime.now(PLAN_TZ).date()
