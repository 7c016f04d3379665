"""The Bureau's arithmetic: run rate, forecasts, months, and the shaping of counts (portal.forecast)."""

from datetime import date

import pytest

from portal import forecast as fc


def test_months_span_years_and_parse_only_real_months() -> None:
    assert fc.months(date(2020, 11, 15), date(2021, 2, 1)) == [
        date(2020, 11, 1), date(2020, 12, 1), date(2021, 1, 1), date(2021, 2, 1),
    ]  # fmt: skip
    assert fc.month_end(date(2020, 2, 1)) == date(2020, 2, 29)
    assert fc.month_end(date(2021, 12, 1)) == date(2021, 12, 31)
    assert fc.parse_month("2021-06") == date(2021, 6, 1)
    for bad in ("2021-13", "2021-00", "21-06", "2021-6", "2021/06", "abcd-ef", "", None, "1999-01", "2021-06-01"):
        assert fc.parse_month(bad) is None, bad


def test_run_rate_counts_the_last_three_months_the_latest_up_to_now() -> None:
    monthly = {date(2021, 1, 1): 90, date(2021, 2, 1): 30, date(2021, 3, 1): 30, date(2021, 4, 1): 15}
    # February, March, April 1..15: 75 completions over 28 + 31 + 15 = 74 days
    rate = fc.run_rate(monthly, date(2021, 4, 15))
    assert rate == pytest.approx(75 / (74 / fc.DAYS_PER_MONTH))
    # a month without completions counts as none
    assert fc.run_rate({date(2021, 1, 1): 90}, date(2021, 4, 30)) == 0.0


def test_a_target_reached_is_met_in_the_month_the_cumulative_count_reached_it() -> None:
    monthly = {date(2020, 3, 1): 40, date(2020, 4, 1): 50, date(2020, 5, 1): 30}
    assert fc.reached(monthly, 90) == date(2020, 4, 1)
    assert fc.reached(monthly, 121) is None
    assert fc.reached({date(2019, 12, 1): 100, date(2020, 1, 1): 5}, 10, since=date(2020, 1, 1)) is None
    outcome = fc.forecast(120, 90, 10.0, date(2020, 6, 1), fc.PLAN_END, fc.reached(monthly, 90))
    assert outcome == fc.Forecast(fc.MET, date(2020, 4, 1))


def test_a_target_is_forecast_at_the_run_rate_or_said_not_to_be_met_at_this_rate() -> None:
    now = date(2021, 6, 30)
    on_track = fc.forecast(done=100, target=400, rate=100.0, now=now, deadline=fc.PLAN_END)
    assert on_track.status == fc.ON_TRACK
    assert on_track.on == date(2021, 6, 30) + (date(2021, 9, 30) - date(2021, 6, 30))  # 3 months of 30.4375 days
    late = fc.forecast(done=100, target=10_000, rate=100.0, now=now, deadline=fc.PLAN_END)
    assert late.status == fc.NOT_AT_THIS_RATE and late.on is not None and late.on > fc.PLAN_END
    assert fc.forecast(100, 400, 0.0, now, fc.PLAN_END) == fc.Forecast(fc.NOT_AT_THIS_RATE, None)
    # a trickle: no date centuries away (nor past the year 9999)
    assert fc.forecast(0, 100_000, 1e-9, now, fc.PLAN_END) == fc.Forecast(fc.NOT_AT_THIS_RATE, None)
    assert fc.forecast(100, 100_000, 5.7, now, fc.PLAN_END) == fc.Forecast(fc.NOT_AT_THIS_RATE, None)
    # a deadline passed unmet is missed; no data, no forecast
    assert fc.forecast(10, 50, 5.0, date(2021, 1, 5), fc.DEADLINES["2020"]).status == fc.MISSED
    assert fc.forecast(0, 50, 0.0, None, fc.PLAN_END).status == fc.NO_DATA


def test_the_projection_carries_the_run_rate_to_the_plans_end() -> None:
    points = fc.projection(done=100, rate=30.0, now=date(2021, 10, 15))
    assert [m for m, _ in points] == [date(2021, 10, 1), date(2021, 11, 1), date(2021, 12, 1)]
    assert points[0][1] == 100
    assert points[-1][1] == 100 + round(30.0 * 77 / fc.DAYS_PER_MONTH)  # 15 Oct to 31 Dec
    assert points[1][1] < points[2][1]


def counts(tier: str, key: str | None, **values: int) -> dict[str, object]:
    row: dict[str, object] = {"tier": tier, "key": key}
    for name in ("enrolled", "open", "completed", "failed", "withdrawn", "employed", "own_business"):
        row[name] = values.get(name, 0)
    return row


def test_the_month_table_adds_up_to_the_totals() -> None:
    starts = [
        counts("basic", "2020-03-01", enrolled=10),
        counts("professional", "2020-03-01", enrolled=2),
        counts("basic", "2020-05-01", enrolled=5),
        counts("senior", None, enrolled=1),  # a completion read before its enrolment
    ]
    completions = [
        counts("basic", None, enrolled=6),  # not completed: no month
        counts("basic", "2020-04-01", completed=7, employed=4, own_business=1, enrolled=8),
        counts("professional", "2020-06-01", completed=1, enrolled=1),
    ]
    rows = fc.month_table(starts, completions)
    assert [r["month"] for r in rows] == ["2020-03", "2020-04", "2020-05", "2020-06", None]
    assert sum(r["enrolled_basic"] for r in rows) == 15
    assert sum(r["enrolled_senior"] for r in rows) == 1
    assert sum(r["completed_all"] for r in rows) == 8
    assert rows[1] | {} == rows[1] and rows[1]["employed"] == 4 and rows[1]["own_business"] == 1
    assert fc.per_month(completions, "completed", "basic") == {date(2020, 4, 1): 7}


def test_the_league_table_ranks_by_completions_and_keeps_every_institution() -> None:
    institutions = [
        {"id": "a", "name": "Alpha", "status": "active"},
        {"id": "b", "name": "Beta", "status": "suspended"},
        {"id": "c", "name": "Gamma", "status": "active"},
    ]
    by_institution = [
        {"institution_id": "a", "tier": "basic", "enrolled": 10, "completed": 4, "employed": 2, "own_business": 1},
        {"institution_id": "b", "tier": "basic", "enrolled": 10, "completed": 6, "employed": 3, "own_business": 0},
        {"institution_id": "b", "tier": "professional", "enrolled": 2, "completed": 1, "employed": 1},
        {"institution_id": "z", "tier": "basic", "enrolled": 1, "completed": 0},
    ]
    rows = fc.league(institutions, by_institution)
    assert [(r["rank"], r["name"]) for r in rows] == [(1, "Beta"), (2, "Alpha"), (3, "Gamma"), (4, "z")]
    beta = rows[0]
    assert beta["enrolled"] == 12 and beta["completed"] == 7
    assert beta["completion_rate"] == round(7 / 12, 4) and beta["employment_rate"] == round(4 / 7, 4)
    assert rows[2]["completion_rate"] is None and rows[3]["status"] is None


def test_summed_adds_up_by_columns() -> None:
    rows = [
        {"tier": "basic", "g": "x", "n": 1, "m": 2},
        {"tier": "basic", "g": "y", "n": 3, "m": None},
        {"tier": "senior", "g": "x", "n": 5, "m": 1},
    ]
    assert fc.summed(rows, ("tier",), ("n", "m")) == [
        {"tier": "basic", "n": 4, "m": 2}, {"tier": "senior", "n": 5, "m": 1},
    ]  # fmt: skip
    assert fc.with_rates({"enrolled": 0, "completed": 0})["completion_rate"] is None
