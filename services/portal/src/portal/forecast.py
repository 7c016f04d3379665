"""The Bureau's arithmetic, pure: run rates, the date each target is met, and the shaping of counts into the
rows the Bureau's pages and monthly report show. No I/O, no translation: unit-tested on its own.

The plan is simulated in 2020-2021, so "now" is never the wall clock: it is the latest activity date in the data
(the last course start or completion seen), and every forecast runs from there.

Method (stated on the page): the run rate is the completions per month over the last `WINDOW` calendar months of
data, the latest of them counted only up to "now"; a target is forecast to be met when the completions still
missing are done at that rate. A target already reached is "met" (in the month the cumulative count reached it);
one whose date falls after its deadline (the plan's end, 2021-12-31; the 2020 target's, 2020-12-31) is "not at
this rate"; one whose deadline has passed unmet is "missed".
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

TIERS = ("basic", "professional", "senior")
PLAN_START = date(2020, 1, 1)
PLAN_END = date(2021, 12, 31)
DEADLINES = {"2020": date(2020, 12, 31), "2021": date(2021, 12, 31), "plan": PLAN_END}
WINDOW = 3  # months of data the run rate looks back over
HORIZON_DAYS = 10 * 366  # a forecast further than this from "now" is not dated (it says only "not at this rate")
DAYS_PER_MONTH = 365.25 / 12
COUNTS = ("enrolled", "open", "completed", "failed", "withdrawn", "employed", "own_business")

# forecast statuses
MET, ON_TRACK, NOT_AT_THIS_RATE, MISSED, NO_DATA = "met", "on_track", "not_at_this_rate", "missed", "no_data"


@dataclass(frozen=True)
class Forecast:
    status: str  # met | on_track | not_at_this_rate | missed | no_data
    on: date | None  # met: the month it was reached; on_track / not_at_this_rate: the forecast day


# --- months -------------------------------------------------------------------------------------------------


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_end(month: date) -> date:
    return next_month(month) - timedelta(days=1)


def months(first: date, last: date) -> list[date]:
    """Every month's first day from `first`'s month to `last`'s month, both included."""
    found, at, end = [], month_of(first), month_of(last)
    while at <= end:
        found.append(at)
        at = next_month(at)
    return found


def parse_month(text: str | None) -> date | None:
    """`YYYY-MM` (a month between 2000 and 2099) as its first day; None for anything else."""
    if text is None or len(text) != 7 or text[4] != "-" or not (text[:4].isdigit() and text[5:].isdigit()):
        return None
    year, month = int(text[:4]), int(text[5:])
    if not (2000 <= year <= 2099 and 1 <= month <= 12):
        return None
    return date(year, month, 1)


# --- run rate and forecasts ---------------------------------------------------------------------------------


def run_rate(per_month: Mapping[date, int], now: date, window: int = WINDOW) -> float:
    """Completions per month over the `window` months ending with `now`'s month, that month counted up to `now`
    (a month without completions counts as none)."""
    first = month_of(now)
    for _ in range(window - 1):
        first = month_of(first - timedelta(days=1))
    done = sum(n for month, n in per_month.items() if first <= month <= month_of(now))
    days = (now - first).days + 1
    return done / (days / DAYS_PER_MONTH)


def reached(per_month: Mapping[date, int], target: int, since: date | None = None) -> date | None:
    """The month the cumulative count (from `since`'s month) first reached `target`, if it did."""
    total = 0
    for month in sorted(per_month):
        if since is not None and month < month_of(since):
            continue
        total += per_month[month]
        if total >= target:
            return month
    return None


def forecast(
    done: int, target: int, rate: float, now: date | None, deadline: date, met_in: date | None = None
) -> Forecast:
    """When `target` is met at `rate` completions per month from `now`, `done` being done already."""
    if target > 0 and done >= target:
        return Forecast(MET, met_in)
    if now is None or target <= 0:
        return Forecast(NO_DATA, None)
    if now >= deadline:
        return Forecast(MISSED, None)
    if rate <= 0:
        return Forecast(NOT_AT_THIS_RATE, None)
    days = math.ceil((target - done) / rate * DAYS_PER_MONTH)
    if days > HORIZON_DAYS:  # centuries away at a trickle: no date worth showing (nor one a date can hold)
        return Forecast(NOT_AT_THIS_RATE, None)
    on = now + timedelta(days=days)
    return Forecast(ON_TRACK if on <= deadline else NOT_AT_THIS_RATE, on)


def projection(done: int, rate: float, now: date, until: date = PLAN_END) -> list[tuple[date, int]]:
    """The cumulative count at the end of each month from `now`'s month to `until`'s, at `rate` per month
    (`now`'s month starts from `done` on the day `now`)."""
    points = [(month_of(now), done)]
    for month in months(next_month(month_of(now)), until):
        days = (month_end(month) - now).days
        points.append((month, done + round(rate * days / DAYS_PER_MONTH)))
    return points


# --- shaping --------------------------------------------------------------------------------------------------


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def with_rates(counts: Mapping[str, Any]) -> dict[str, Any]:
    """Counts with enrollment's rates: completion = completed / enrolled; employment and own business per
    completion."""
    done = int(counts.get("completed", 0))
    return {
        **counts,
        "completion_rate": ratio(done, int(counts.get("enrolled", 0))),
        "employment_rate": ratio(int(counts.get("employed", 0)), done),
        "own_business_rate": ratio(int(counts.get("own_business", 0)), done),
    }


def per_month(rows: Iterable[Mapping[str, Any]], value: str, tier: str | None = None) -> dict[date, int]:
    """Read-model rows of `store.counts(by=<a month>)` as {month: `value`} (one tier, or all); rows without a
    month (not started, not completed) are left out."""
    found: dict[date, int] = {}
    for row in rows:
        if row["key"] is None or (tier is not None and row["tier"] != tier):
            continue
        month = date.fromisoformat(str(row["key"])[:10])
        found[month] = found.get(month, 0) + int(row[value])
    return found


def month_table(starts: Sequence[Mapping[str, Any]], completions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per month with data: enrolments by start month and completions by completion month, per tier.
    A start not known yet (a completion read before its enrolment) is its own row without a month, so the
    columns always add up to the totals."""
    rows: dict[date | None, dict[str, Any]] = {}

    def row(month: date | None) -> dict[str, Any]:
        if month not in rows:
            rows[month] = {"month": month.strftime("%Y-%m") if month else None}
            for tier in TIERS:
                rows[month][f"enrolled_{tier}"] = rows[month][f"completed_{tier}"] = 0
            rows[month]["completed_all"] = rows[month]["employed"] = rows[month]["own_business"] = 0
        return rows[month]

    for r in starts:
        month = date.fromisoformat(str(r["key"])[:10]) if r["key"] is not None else None
        row(month)[f"enrolled_{r['tier']}"] += int(r["enrolled"])
    for r in completions:
        if r["key"] is None or not int(r["completed"]):
            continue
        target = row(date.fromisoformat(str(r["key"])[:10]))
        target[f"completed_{r['tier']}"] += int(r["completed"])
        target["completed_all"] += int(r["completed"])
        target["employed"] += int(r["employed"])
        target["own_business"] += int(r["own_business"])
    ordered = sorted(m for m in rows if m is not None)
    return [rows[m] for m in ordered] + ([rows[None]] if None in rows else [])


def league(
    institutions: Sequence[Mapping[str, Any]], by_institution: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Every institution with its counts summed over the tiers, ranked by completions (then completion rate,
    then name); an institution without enrolments is listed with zeros."""
    sums: dict[str, dict[str, int]] = {}
    for row in by_institution:
        into = sums.setdefault(str(row["institution_id"]), dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            into[name] += int(row.get(name, 0) or 0)
    rows = []
    for found in institutions:
        counts = sums.get(str(found["id"]), dict.fromkeys(COUNTS, 0))
        rows.append(
            with_rates({"institution_id": str(found["id"]), "name": found["name"], "status": found["status"], **counts})
        )
    known = {str(i["id"]) for i in institutions}
    for institution_id, counts in sums.items():  # counted but not (yet) in the list: never hidden
        if institution_id not in known:
            rows.append(
                with_rates({"institution_id": institution_id, "name": institution_id, "status": None, **counts})
            )
    rows.sort(key=lambda r: (-r["completed"], -(r["completion_rate"] or 0), r["name"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def summed(rows: Iterable[Mapping[str, Any]], by: Sequence[str], values: Sequence[str]) -> list[dict[str, Any]]:
    """`rows` added up by the columns `by` (in first-seen order), each of `values` summed."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[b] for b in by)
        into = found.setdefault(key, {**{b: row[b] for b in by}, **dict.fromkeys(values, 0)})
        for name in values:
            into[name] += int(row.get(name) or 0)
    return list(found.values())
