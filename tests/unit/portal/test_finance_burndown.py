"""The fund's burn-down: committed yuan by completion day, what is left available, and the projection."""

from datetime import date, timedelta

from portal.burndown import Fund, burndown, by_month, chart_option, monthly_option

LABELS = {"committed": "C", "available": "A", "projection": "P", "total": "T", "yuan": "Y"}


def fund(**changes: object) -> Fund:
    values: dict[str, object] = {
        "total": 10_000,
        "reserved": 1_000,
        "approved": 2_000,
        "paid": 900,
        "available": 7_000,
        "burn_rate": 100.0,
        "exhaustion": date(2020, 3, 12),
    }
    values.update(changes)
    return Fund(**values)  # type: ignore[arg-type]


def test_fund_reads_the_api_body() -> None:
    body = {
        "policy_version": "2020.1",
        "total_yuan": 10_000_000,
        "reserved_yuan": 27_000,
        "approved_yuan": 41_400,
        "paid_yuan": 0,
        "available_yuan": 9_931_600,
        "burn_rate_yuan_per_day": 80.2,
        "projected_exhaustion": "2360-01-02",
    }
    read = Fund.of(body)
    assert (read.total, read.reserved, read.approved, read.available) == (10_000_000, 27_000, 41_400, 9_931_600)
    assert read.burn_rate == 80.2 and read.exhaustion == date(2360, 1, 2)
    assert Fund.of({**body, "burn_rate_yuan_per_day": None, "projected_exhaustion": None}).exhaustion is None


def test_committed_is_cumulative_net_of_reversals_and_available_ends_on_the_funds_figure() -> None:
    days = [
        {"day": date(2020, 1, 3), "approved": 900, "reversed": 0},
        {"day": date(2020, 1, 1), "approved": 1_800, "reversed": 0},
        {"day": date(2020, 1, 5), "approved": 0, "reversed": 700},
    ]
    drawn = burndown(fund(), days)
    assert drawn.committed == [(date(2020, 1, 1), 1_800), (date(2020, 1, 3), 2_700), (date(2020, 1, 5), 2_000)]
    assert drawn.available == [(date(2020, 1, 1), 7_200), (date(2020, 1, 3), 6_300), (date(2020, 1, 5), 7_000)]
    assert drawn.available[-1][1] == fund().available  # the read model agrees with funding
    assert drawn.projection == [(date(2020, 1, 5), 7_000), (date(2020, 3, 12), 0)]
    assert not drawn.cut


def test_an_exhaustion_too_far_out_is_cut_at_the_horizon_at_the_burn_rate() -> None:
    days = [{"day": date(2021, 6, 30), "approved": 2_000, "reversed": 0}]
    drawn = burndown(fund(exhaustion=date(2400, 1, 1), burn_rate=2.0), days, horizon_days=100)
    assert drawn.cut and drawn.reaches_zero == date(2400, 1, 1)
    assert drawn.projection == [(date(2021, 6, 30), 7_000), (date(2021, 6, 30) + timedelta(days=100), 6_800)]


def test_no_approval_yet_draws_no_projection() -> None:
    drawn = burndown(fund(approved=0, burn_rate=None, exhaustion=None), [])
    assert drawn.committed == [] and drawn.projection == [] and not drawn.cut


def test_the_chart_marks_the_fund_total_and_draws_three_series() -> None:
    f = fund()
    option = chart_option(f, burndown(f, [{"day": date(2020, 1, 1), "approved": 2_000, "reversed": 0}]), LABELS)
    names = [s["name"] for s in option["series"]]
    assert names == ["C", "A", "P"]
    assert option["series"][0]["markLine"]["data"] == [{"yAxis": 10_000}]
    assert option["series"][0]["data"] == [["2020-01-01", 2_000]]
    assert option["series"][2]["data"] == [["2020-01-01", 7_000], ["2020-03-12", 0]]
    assert option["yAxis"]["max"] == 10_000


def test_months_sum_approvals_and_reversals_and_draw_reversals_below_the_axis() -> None:
    days = [
        {"day": date(2020, 1, 3), "approved": 900, "reversed": 0},
        {"day": date(2020, 3, 1), "approved": 5_000, "reversed": 900},
        {"day": date(2020, 1, 30), "approved": 900, "reversed": 0},
    ]
    months = by_month(days)
    assert months == [(date(2020, 1, 1), 1_800, 0), (date(2020, 3, 1), 5_000, 900)]
    option = monthly_option(months, {"approved": "A", "reversed": "R", "yuan": "Y"})
    assert option["xAxis"]["data"] == ["2020-01", "2020-03"]
    assert [s["data"] for s in option["series"]] == [[1_800, 5_000], [0, -900]]
