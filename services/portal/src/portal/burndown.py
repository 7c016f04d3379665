"""The fund's burn-down, as the finance office's first page draws it: pure, so it is tested on its own.

Time runs by completion day, the axis funding's burn rate and projected exhaustion are computed on (approved yuan
per day of completions, from the first to the last approved completion). From the read model's approvals and
reversals per day it draws the committed yuan (approved minus reversed, cumulative) and what is left available
(the fund's total minus today's reservations minus that), which ends on the fund's `available` figure; from there
a dashed projection falls at the burn rate to zero on the projected exhaustion date. An exhaustion too far out to
draw (a small cohort burns slowly) is cut at `horizon_days` and the chart says where it would reach zero.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

HORIZON_DAYS = 3 * 366


@dataclass(frozen=True)
class Fund:
    """GET /fund, the figures the burn-down needs."""

    total: int
    reserved: int
    approved: int
    paid: int
    available: int
    burn_rate: float | None
    exhaustion: date | None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> "Fund":
        exhaustion = body.get("projected_exhaustion")
        return cls(
            total=int(body["total_yuan"]),
            reserved=int(body["reserved_yuan"]),
            approved=int(body["approved_yuan"]),
            paid=int(body["paid_yuan"]),
            available=int(body["available_yuan"]),
            burn_rate=None if body.get("burn_rate_yuan_per_day") is None else float(body["burn_rate_yuan_per_day"]),
            exhaustion=date.fromisoformat(exhaustion) if isinstance(exhaustion, str) else exhaustion,
        )


@dataclass(frozen=True)
class Burndown:
    committed: list[tuple[date, int]]  # approved minus reversed, cumulative, per completion day
    available: list[tuple[date, int]]  # total - reserved now - committed
    projection: list[tuple[date, int]]  # from the last day at the burn rate: to zero, or cut at the horizon
    reaches_zero: date | None  # the projected exhaustion (on the chart or beyond it)
    cut: bool  # the projection is cut before it reaches zero


def burndown(fund: Fund, days: Sequence[Mapping[str, Any]], horizon_days: int = HORIZON_DAYS) -> Burndown:
    """`days`: rows of (day, approved, reversed) yuan, in any order, a day at most once."""
    committed: list[tuple[date, int]] = []
    running = 0
    for row in sorted(days, key=lambda r: r["day"]):
        running += int(row["approved"] or 0) - int(row["reversed"] or 0)
        committed.append((row["day"], running))
    available = [(day, max(fund.total - fund.reserved - value, 0)) for day, value in committed]
    projection: list[tuple[date, int]] = []
    cut = False
    if committed and fund.burn_rate and fund.burn_rate > 0:
        last = committed[-1][0]
        start = (last, fund.available)
        if fund.exhaustion is not None and (fund.exhaustion - last).days <= horizon_days:
            projection = [start, (max(fund.exhaustion, last), 0)]
        else:
            end = last + timedelta(days=horizon_days)
            projection = [start, (end, max(round(fund.available - fund.burn_rate * horizon_days), 0))]
            cut = True
    return Burndown(committed, available, projection, fund.exhaustion, cut)


def chart_option(fund: Fund, drawn: Burndown, labels: Mapping[str, str]) -> dict[str, Any]:
    """An Apache ECharts option; `labels` are translated: committed, available, projection, total, yuan."""

    def points(series: Sequence[tuple[date, int]]) -> list[list[Any]]:
        return [[day.isoformat(), value] for day, value in series]

    return {
        "color": ["#b3261e", "#1d4e89", "#1d4e89"],
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 90, "right": 40, "top": 40, "bottom": 40},
        "xAxis": {"type": "time"},
        "yAxis": {"type": "value", "name": labels["yuan"], "min": 0, "max": max(fund.total, 1)},
        "series": [
            {
                "name": labels["committed"],
                "type": "line",
                "step": "end",
                "showSymbol": False,
                "areaStyle": {"opacity": 0.25},
                "data": points(drawn.committed),
                "markLine": {
                    "symbol": "none",
                    "silent": True,
                    "lineStyle": {"type": "solid", "color": "#616e7c"},
                    "label": {"formatter": labels["total"], "position": "insideEndTop"},
                    "data": [{"yAxis": fund.total}],
                },
            },
            {
                "name": labels["available"],
                "type": "line",
                "step": "end",
                "showSymbol": False,
                "areaStyle": {"opacity": 0.08},
                "data": points(drawn.available),
            },
            {
                "name": labels["projection"],
                "type": "line",
                "showSymbol": True,
                "lineStyle": {"type": "dashed"},
                "data": points(drawn.projection),
            },
        ],
    }


def by_month(days: Sequence[Mapping[str, Any]]) -> list[tuple[date, int, int]]:
    """(first day of the month, approved yuan, reversed yuan) per completion month, months without any left out."""
    months: dict[date, list[int]] = {}
    for row in days:
        month = row["day"].replace(day=1)
        totals = months.setdefault(month, [0, 0])
        totals[0] += int(row["approved"] or 0)
        totals[1] += int(row["reversed"] or 0)
    return [(month, approved, reversed_) for month, (approved, reversed_) in sorted(months.items())]


def monthly_option(months: Sequence[tuple[date, int, int]], labels: Mapping[str, str]) -> dict[str, Any]:
    """Approved yuan per completion month (bars), reversals below the axis: where the fund's money went."""
    return {
        "color": ["#b3261e", "#616e7c"],
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 70, "right": 20, "top": 36, "bottom": 30},
        "xAxis": {"type": "category", "data": [m.strftime("%Y-%m") for m, _, _ in months]},
        "yAxis": {"type": "value", "name": labels["yuan"]},
        "series": [
            {
                "name": labels["approved"],
                "type": "bar",
                "stack": "net",
                "barMaxWidth": 40,
                "data": [a for _, a, _ in months],
            },
            {
                "name": labels["reversed"],
                "type": "bar",
                "stack": "net",
                "barMaxWidth": 40,
                "data": [-r for _, _, r in months],
            },
        ],
    }
