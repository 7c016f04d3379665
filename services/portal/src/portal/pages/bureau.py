"""The Bureau's pages: progress against the plan's targets (with the run rate, a forecast of each target and the
monthly progress report as PDF), institutions (accreditation, suspension, keys), flagged institutions with the
identity-lookup audit, and enrollment's dead letters and parked outbox rows.

Counts and targets come from enrollment's GET /progress (the authority), months from the portal's read model
(the same events, counted the same way); the Bureau's own key opens enrollment's Bureau and operations routes.
"""

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal import forecast as fc
from portal.clients import Refusal
from portal.i18n import N_, gettext
from portal.pdf import Section, document
from portal.tables import Column, Table, translate_code
from portal.web import Chart, Ctx, Flash, Viewer, backend, checked_form, done, page, require, store_of

TIER_COLORS = {"basic": "#1d4e89", "professional": "#2f9e8f", "senior": "#d08c1b"}
TARGET_LABELS = {"2020": N_("2020 target"), "plan": N_("Whole plan (2020\u20132021)")}
STATUS_LABELS = {
    fc.MET: N_("Met"),
    fc.ON_TRACK: N_("On track"),
    fc.NOT_AT_THIS_RATE: N_("Not at this rate"),
    fc.MISSED: N_("Missed"),
    fc.NO_DATA: N_("No data yet"),
}
MODES = ("online", "offline", "both")
MODE_LABELS = {"online": N_("Online"), "offline": N_("Offline"), "both": N_("Online and offline")}
KEY_PATTERN = re.compile(r"^inst_([0-9a-f]{32})_")
KEY_ID = re.compile(r"^[0-9a-f]{32}$")
LOOKUPS_SHOWN = 1000
BUREAU = require("bureau")


def tier_name(tier: str) -> str:
    return translate_code(tier)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _int(value: int) -> str:
    return f"{value:,}"


# --- progress --------------------------------------------------------------------------------------------------


TIER_COLUMNS = (
    Column("tier", N_("Tier"), "code"),
    Column("enrolled", N_("Enrolled"), "int"),
    Column("open", N_("In training"), "int"),
    Column("completed", N_("Completed"), "int"),
    Column("failed", N_("Failed"), "int"),
    Column("withdrawn", N_("Withdrawn"), "int"),
    Column("completion_rate", N_("Completion rate"), "pct"),
    Column("employment_rate", N_("Employment rate"), "pct"),
    Column("own_business_rate", N_("Own-business rate"), "pct"),
)


def _tier_rows(progress: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"tier": tier, **progress["tiers"][tier]} for tier in fc.TIERS if tier in progress["tiers"]]


def _completions_by_year(progress: Mapping[str, Any], tier: str, year: str) -> int:
    return sum(
        int(r["completed"])
        for r in progress["by_completion_year"]
        if r["tier"] == tier and str(r["completion_year"]) == year
    )


def _targets(
    progress: Mapping[str, Any], done_by_month: Mapping[str, dict[date, int]], now: date | None
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The per-tier rows against the 2020 and the plan's targets, with the run rate and the forecast."""
    rows, rates = [], {}
    for tier in fc.TIERS:
        view = progress["tiers"].get(tier)
        if view is None:
            continue
        monthly = done_by_month.get(tier, {})
        rate = fc.run_rate(monthly, now) if now else 0.0
        rates[tier] = rate
        for which in ("2020", "plan"):
            target = int(view["targets"].get(which, 0))
            counted = _completions_by_year(progress, tier, "2020") if which == "2020" else int(view["completed"])
            since = date(2020, 1, 1) if which == "2020" else None
            met_in = fc.reached({m: n for m, n in monthly.items() if which != "2020" or m.year == 2020}, target, since)
            outlook = fc.forecast(counted, target, rate, now, fc.DEADLINES[which], met_in)
            rows.append(
                {
                    "tier": tier,
                    "target_name": gettext(TARGET_LABELS[which]),
                    "which": which,
                    "completed": counted,
                    "target": target,
                    "progress": fc.ratio(counted, target),
                    "remaining": max(target - counted, 0),
                    "run_rate": round(rate, 1),
                    "forecast": gettext(STATUS_LABELS[outlook.status]),
                    "status": outlook.status,
                    "forecast_on": outlook.on.strftime("%Y-%m")
                    if outlook.status == fc.MET and outlook.on
                    else outlook.on,
                }
            )
    return rows, rates


def _charts(
    progress: Mapping[str, Any],
    target_rows: Sequence[Mapping[str, Any]],
    starts_by_month: Mapping[str, dict[date, int]],
    done_by_month: Mapping[str, dict[date, int]],
    rates: Mapping[str, float],
    now: date | None,
) -> list[Chart]:
    tiers = [t for t in fc.TIERS if t in progress["tiers"]]
    names = [tier_name(t) for t in tiers]
    colors = [TIER_COLORS[t] for t in tiers]
    target_line = {
        "symbol": "none",
        "lineStyle": {"color": "#b3261e", "type": "dashed"},
        "label": {"formatter": gettext("Target") + " 100%", "color": "#b3261e", "position": "insideEndTop"},
        "data": [{"xAxis": 100}],
    }
    progress_series = []
    for which, color in (("2020", "#7aa5d6"), ("plan", "#1d4e89")):
        values = [
            round(
                float(next(r["progress"] or 0 for r in target_rows if r["tier"] == t and r["which"] == which)) * 100, 2
            )
            for t in tiers
        ]
        series: dict[str, Any] = {
            "name": gettext(TARGET_LABELS[which]),
            "type": "bar",
            "data": values,
            "itemStyle": {"color": color},
            "label": {"show": True, "position": "right", "formatter": "{c}%"},
            "barMaxWidth": 22,
        }
        if which == "plan":
            series["markLine"] = target_line
        progress_series.append(series)
    top = max([100.0] + [v for s in progress_series for v in s["data"]])
    charts = [
        Chart(
            "chart-targets",
            {
                "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
                "legend": {"top": 0},
                "grid": {"left": 12, "right": 70, "top": 36, "bottom": 8, "containLabel": True},
                "xAxis": {"type": "value", "max": top, "axisLabel": {"formatter": "{value}%"}},
                "yAxis": {"type": "category", "data": names, "inverse": True},
                "series": progress_series,
            },
            height=260,
        )
    ]
    all_months = sorted({m for d in (*starts_by_month.values(), *done_by_month.values()) for m in d})
    axis = [m.strftime("%Y-%m") for m in fc.months(all_months[0], all_months[-1])] if all_months else []
    for chart_id, source, kind in (
        ("chart-completions", done_by_month, "bar"),
        ("chart-enrolments", starts_by_month, "line"),
    ):
        charts.append(
            Chart(
                chart_id,
                {
                    "color": colors,
                    "tooltip": {"trigger": "axis"},
                    "legend": {"top": 0},
                    "grid": {"left": 12, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
                    "xAxis": {"type": "category", "data": axis},
                    "yAxis": {"type": "value", "minInterval": 1},
                    "series": [
                        {
                            "name": tier_name(t),
                            "type": kind,
                            "stack": "all" if kind == "bar" else None,
                            "smooth": kind == "line",
                            "data": [source.get(t, {}).get(date.fromisoformat(m + "-01"), 0) for m in axis],
                        }
                        for t in tiers
                    ],
                },
            )
        )
    for tier in tiers:
        view = progress["tiers"][tier]
        monthly = done_by_month.get(tier, {})
        first = min(monthly) if monthly else fc.PLAN_START
        axis_months = fc.months(min(first, fc.PLAN_START), fc.PLAN_END)
        labels = [m.strftime("%Y-%m") for m in axis_months]
        actual: list[int | None] = []
        total = 0
        for month in axis_months:
            total += monthly.get(month, 0)
            actual.append(total if now is not None and month <= fc.month_of(now) else None)
        projected: list[int | None] = [None] * len(axis_months)
        if now is not None and now < fc.PLAN_END:
            for month, value in fc.projection(int(view["completed"]), rates.get(tier, 0.0), now):
                if month in axis_months:
                    projected[axis_months.index(month)] = value
        plan_target = int(view["targets"].get("plan", 0))
        target_2020 = int(view["targets"].get("2020", 0))
        highest = max([plan_target] + [v for v in actual + projected if v is not None])
        charts.append(
            Chart(
                f"chart-cumulative-{tier}",
                {
                    "tooltip": {"trigger": "axis"},
                    "legend": {"top": 0},
                    "grid": {"left": 12, "right": 24, "top": 36, "bottom": 8, "containLabel": True},
                    "xAxis": {"type": "category", "data": labels},
                    "yAxis": {"type": "value", "max": highest, "minInterval": 1},
                    "series": [
                        {
                            "name": gettext("Completed (cumulative)"),
                            "type": "line",
                            "data": actual,
                            "itemStyle": {"color": TIER_COLORS[tier]},
                            "showSymbol": False,
                            "areaStyle": {"opacity": 0.15},
                            "markLine": {
                                "symbol": "none",
                                "lineStyle": {"color": "#b3261e", "type": "dashed"},
                                "label": {"position": "insideEndTop", "color": "#b3261e"},
                                "data": [
                                    {"yAxis": plan_target, "name": gettext("Plan target")},
                                    {"yAxis": target_2020, "name": gettext("2020 target")},
                                ],
                            },
                        },
                        {
                            "name": gettext("At the current run rate"),
                            "type": "line",
                            "data": projected,
                            "showSymbol": False,
                            "lineStyle": {"type": "dotted", "color": "#616e7c"},
                            "itemStyle": {"color": "#616e7c"},
                        },
                    ],
                },
                height=260,
            )
        )
    groups = sorted({r["target_group"] for r in progress["by_target_group"]})
    charts.append(
        Chart(
            "chart-groups",
            {
                "color": colors,
                "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
                "legend": {"top": 0},
                "grid": {"left": 12, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
                "xAxis": {
                    "type": "category",
                    "data": [translate_code(g) for g in groups],
                    "axisLabel": {"interval": 0, "hideOverlap": False, "rotate": 12},
                },
                "yAxis": {"type": "value", "minInterval": 1},
                "series": [
                    {
                        "name": tier_name(t),
                        "type": "bar",
                        "stack": "all",
                        "data": [
                            sum(
                                int(r["completed"])
                                for r in progress["by_target_group"]
                                if r["tier"] == t and r["target_group"] == g
                            )
                            for g in groups
                        ],
                    }
                    for t in tiers
                ],
            },
            height=280,
        )
    )
    return charts


async def _progress_data(request: Request, viewer: Viewer) -> dict[str, Any]:
    api = backend(request)
    progress = await api.get("enrollment", "/progress", viewer.key)
    institutions = await api.get("enrollment", "/institutions", viewer.key)
    async with store_of(request)() as store:
        starts = await store.counts(by="start_month")
        completions = await store.counts(by="completion_month")
        now = await store.bureau_latest_day()
    return {
        "progress": progress,
        "institutions": institutions,
        "starts": starts,
        "completions": completions,
        "now": now,
    }


def _progress_page(data: Mapping[str, Any]) -> tuple[list[Table], list[Chart], dict[str, Any]]:
    progress, now = data["progress"], data["now"]
    starts_by_month = {t: fc.per_month(data["starts"], "enrolled", t) for t in fc.TIERS}
    done_by_month = {t: fc.per_month(data["completions"], "completed", t) for t in fc.TIERS}
    target_rows, rates = _targets(progress, done_by_month, now)
    month_rows = fc.month_table(data["starts"], data["completions"])
    league_rows = fc.league(data["institutions"], progress["by_institution"])
    tables = [
        Table(
            "tiers",
            N_("Progress by tier"),
            TIER_COLUMNS,
            _tier_rows(progress),
            note=N_(
                "From enrollment's progress report (the authority for counts and targets). Completed means "
                "completed and passed; the employment and own-business rates are shares of completions."
            ),
        ),
        Table(
            "targets",
            N_("Against the targets, with the forecast"),
            (
                Column("tier", N_("Tier"), "code"),
                Column("target_name", N_("Target")),
                Column("completed", N_("Completed"), "int"),
                Column("target", N_("Target count"), "int"),
                Column("progress", N_("Progress"), "pct"),
                Column("remaining", N_("Still to complete"), "int"),
                Column("run_rate", N_("Run rate (completions per month)")),
                Column("forecast", N_("Forecast")),
                Column("forecast_on", N_("Met on / forecast date")),
            ),
            target_rows,
        ),
        Table(
            "months",
            N_("By month"),
            (
                Column("month", N_("Month")),
                Column("enrolled_basic", N_("Enrolled: basic"), "int"),
                Column("enrolled_professional", N_("Enrolled: professional"), "int"),
                Column("enrolled_senior", N_("Enrolled: senior"), "int"),
                Column("completed_basic", N_("Completed: basic"), "int"),
                Column("completed_professional", N_("Completed: professional"), "int"),
                Column("completed_senior", N_("Completed: senior"), "int"),
                Column("completed_all", N_("Completed, all tiers"), "int"),
                Column("employed", N_("Employed"), "int"),
                Column("own_business", N_("Own business"), "int"),
            ),
            month_rows,
            note=N_("Enrolments by the month the course starts, completions by the month it ends (passed only)."),
        ),
        Table(
            "groups",
            N_("By target group"),
            (
                Column("target_group", N_("Target group"), "code"),
                Column("tier", N_("Tier"), "code"),
                Column("enrolled", N_("Enrolled"), "int"),
                Column("completed", N_("Completed"), "int"),
                Column("completion_rate", N_("Completion rate"), "pct"),
                Column("employment_rate", N_("Employment rate"), "pct"),
                Column("own_business_rate", N_("Own-business rate"), "pct"),
            ),
            sorted(progress["by_target_group"], key=lambda r: (r["target_group"], fc.TIERS.index(r["tier"]))),
        ),
        Table(
            "league",
            N_("Institutions' league table"),
            (
                Column("rank", N_("Rank"), "int"),
                Column("name", N_("Institution")),
                Column("status", N_("Status"), "code"),
                Column("enrolled", N_("Enrolled"), "int"),
                Column("completed", N_("Completed"), "int"),
                Column("completion_rate", N_("Completion rate"), "pct"),
                Column("employment_rate", N_("Employment rate"), "pct"),
                Column("own_business_rate", N_("Own-business rate"), "pct"),
            ),
            league_rows,
            note=N_("Ranked by completions (all tiers), then by completion rate."),
        ),
    ]
    charts = _charts(progress, target_rows, starts_by_month, done_by_month, rates, now)
    tiers = progress["tiers"]
    enrolled = sum(int(v["enrolled"]) for v in tiers.values())
    completed = sum(int(v["completed"]) for v in tiers.values())
    employed = sum(int(v["employed"]) for v in tiers.values())
    own = sum(int(v["own_business"]) for v in tiers.values())
    basic_plan = next((r for r in target_rows if r["tier"] == "basic" and r["which"] == "plan"), None)
    figures = [
        (gettext("Enrolled"), _int(enrolled), "enrolled"),
        (gettext("Completed"), _int(completed), "completed"),
        (gettext("Completion rate"), _pct(fc.ratio(completed, enrolled)), "completion-rate"),
        (gettext("Employment rate"), _pct(fc.ratio(employed, completed)), "employment-rate"),
        (gettext("Own-business rate"), _pct(fc.ratio(own, completed)), "own-business-rate"),
        (gettext("Basic tier: plan progress"), _pct(basic_plan["progress"] if basic_plan else None), "basic-plan"),
        (gettext("Completions per month (run rate)"), f"{sum(rates.values()):,.1f}", "run-rate"),
        (gettext("Data as of"), now.isoformat() if now else "—", "now"),
    ]
    report_months = [m.strftime("%Y-%m") for m in fc.months(fc.PLAN_START, now)] if now else []
    return tables, charts, {"figures": figures, "now": now, "report_months": report_months[::-1], "window": fc.WINDOW}


# --- the monthly report (PDF) ------------------------------------------------------------------------------------


def _report_sections(
    month: date,
    rows: Sequence[Mapping[str, Any]],
    progress: Mapping[str, Any],
    institutions: Sequence[Mapping[str, Any]],
) -> list[Section]:
    last = fc.month_end(month)
    values = (
        "enrolled", "completed", "employed", "own_business", "completed_this_year", "enrolled_in_month",
        "completed_in_month", "employed_in_month", "own_business_in_month",
    )  # fmt: skip
    by_tier = {r["tier"]: r for r in fc.summed(rows, ("tier",), values)}
    tier_rows = [{"tier": t, **by_tier.get(t, dict.fromkeys(values, 0))} for t in fc.TIERS]
    total = {v: sum(int(r[v]) for r in tier_rows) for v in values}
    year = str(month.year)
    month_table = Table(
        "report-month",
        N_("The month"),
        (
            Column("tier", N_("Tier"), "code"),
            Column("enrolled_in_month", N_("Enrolled"), "int"),
            Column("completed_in_month", N_("Completed"), "int"),
            Column("employed_in_month", N_("Employed"), "int"),
            Column("own_business_in_month", N_("Own business"), "int"),
        ),
        tier_rows,
    )
    target_rows = []
    for row in tier_rows:
        targets = progress["tiers"].get(row["tier"], {}).get("targets", {})
        year_target, plan_target = int(targets.get(year, 0)), int(targets.get("plan", 0))
        target_rows.append(
            fc.with_rates(
                {
                    **row,
                    "year_target": year_target,
                    "year_progress": fc.ratio(int(row["completed_this_year"]), year_target),
                    "plan_target": plan_target,
                    "plan_progress": fc.ratio(int(row["completed"]), plan_target),
                }
            )
        )
    cumulative = Table(
        "report-targets",
        N_("Cumulative, against the targets"),
        (
            Column("tier", N_("Tier"), "code"),
            Column("enrolled", N_("Enrolled"), "int"),
            Column("completed", N_("Completed"), "int"),
            Column("completion_rate", N_("Completion rate"), "pct"),
            Column("employment_rate", N_("Employment rate"), "pct"),
            Column("completed_this_year", N_("Completed this year"), "int"),
            Column("year_target", N_("Year's target"), "int"),
            Column("year_progress", N_("Year's progress"), "pct"),
            Column("plan_target", N_("Plan target"), "int"),
            Column("plan_progress", N_("Plan progress"), "pct"),
        ),
        target_rows,
    )
    groups = Table(
        "report-groups",
        N_("By target group"),
        (
            Column("target_group", N_("Target group"), "code"),
            Column("tier", N_("Tier"), "code"),
            Column("enrolled", N_("Enrolled"), "int"),
            Column("completed", N_("Completed"), "int"),
            Column("completion_rate", N_("Completion rate"), "pct"),
            Column("employment_rate", N_("Employment rate"), "pct"),
        ),
        [
            fc.with_rates(r)
            for r in sorted(
                fc.summed(rows, ("target_group", "tier"), values),
                key=lambda r: (r["target_group"], fc.TIERS.index(r["tier"])),
            )
            if r["enrolled"] or r["completed"]
        ],
    )
    by_institution = [
        {**r, "institution_id": str(r["institution_id"])} for r in fc.summed(rows, ("institution_id", "tier"), values)
    ]
    league = Table(
        "report-league",
        N_("Institutions' league table"),
        (
            Column("rank", N_("Rank"), "int"),
            Column("name", N_("Institution")),
            Column("status", N_("Status"), "code"),
            Column("enrolled", N_("Enrolled"), "int"),
            Column("completed", N_("Completed"), "int"),
            Column("completion_rate", N_("Completion rate"), "pct"),
            Column("employment_rate", N_("Employment rate"), "pct"),
        ),
        fc.league(institutions, by_institution),
    )
    figures = [
        (gettext("Enrolled in the month"), _int(total["enrolled_in_month"])),
        (gettext("Completed in the month"), _int(total["completed_in_month"])),
        (gettext("Employed after completing, in the month"), _int(total["employed_in_month"])),
        (gettext("Own business after completing, in the month"), _int(total["own_business_in_month"])),
        (gettext("Enrolled, cumulative"), _int(total["enrolled"])),
        (gettext("Completed, cumulative"), _int(total["completed"])),
        (gettext("Completion rate, cumulative"), _pct(fc.ratio(total["completed"], total["enrolled"]))),
        (gettext("Employment rate, cumulative"), _pct(fc.ratio(total["employed"], total["completed"]))),
    ]
    return [
        Section(
            gettext("Key figures"),
            figures=figures,
            paragraphs=[
                gettext("Counted from the plan's events up to the end of the month:")
                + f" {last.isoformat()}. "
                + gettext("Completed means completed and passed; rates are shares of enrolments and completions.")
            ],
        ),
        Section(gettext("The month, by tier"), table=month_table),
        Section(gettext("Cumulative, against the targets"), table=cumulative),
        Section(gettext("By target group"), table=groups),
        Section(gettext("Institutions' league table"), table=league),
    ]


# --- institutions ----------------------------------------------------------------------------------------------


INSTITUTION_COLUMNS = (
    Column("name", N_("Institution")),
    Column("mode", N_("Mode"), "code"),
    Column("status", N_("Status"), "code"),
    Column("created_at", N_("Accredited on"), "datetime"),
    Column("id", N_("Institution id")),
)


def _institutions_table(institutions: Sequence[Mapping[str, Any]]) -> Table:
    rows = [dict(i) for i in sorted(institutions, key=lambda i: (i["status"] != "suspended", i["name"]))]
    for row in rows:
        row["created_at"] = _when(row.get("created_at"))
    return Table("institutions", N_("All institutions"), INSTITUTION_COLUMNS, rows, actions=["standing", "keys"])


async def _institutions_page(
    request: Request, viewer: Viewer, status: int = 200, flash: Flash | None = None, **variables: Any
) -> Response:
    institutions = await backend(request).get("enrollment", "/institutions", viewer.key)
    table = _institutions_table(institutions)
    return page(
        request,
        "bureau/institutions.html",
        viewer,
        Ctx(
            tables=[table],
            extra={"request_id": str(uuid4()), "institutions": table.rows, "modes": MODES, "mode_labels": MODE_LABELS},
        ),
        status=status,
        flash=flash,
        live=False,
        **variables,
    )


def _reason(form: Mapping[str, Any]) -> str:
    return str(form.get("reason") or "").strip()


# --- operations and flagged ------------------------------------------------------------------------------------


def _when(text: Any) -> Any:
    return datetime.fromisoformat(text) if isinstance(text, str) else text


def router() -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/bureau")
    async def progress_page(request: Request, viewer: Viewer = BUREAU) -> Response:
        tables, charts, extra = _progress_page(await _progress_data(request, viewer))
        return page(request, "bureau/progress.html", viewer, Ctx(tables=tables, charts=charts, extra=extra))

    @routes.get("/bureau/report.pdf")
    async def report(request: Request, month: str | None = None, viewer: Viewer = BUREAU) -> Response:
        async with store_of(request)() as store:
            now = await store.bureau_latest_day()
        chosen = fc.parse_month(month) if month is not None else (fc.month_of(now) if now else None)
        if chosen is None:
            detail = (
                gettext("Write the month as YYYY-MM, e.g. 2021-06:") + " month"
                if month is not None
                else gettext("There is no data yet, so there is no month to report on.")
            )
            return page(request, "error.html", viewer, status=422, code="invalid_month", detail=detail)
        api = backend(request)
        progress = await api.get("enrollment", "/progress", viewer.key)
        institutions = await api.get("enrollment", "/institutions", viewer.key)
        async with store_of(request)() as store:
            rows = await store.bureau_as_of(chosen, fc.month_end(chosen))
        title = gettext("Monthly progress report") + f" {chosen:%Y-%m}"
        subtitle = " · ".join(
            (
                gettext("Shijiazhuang live-commerce talent plan"),
                gettext("Human Resources and Social Security Bureau"),
                gettext("Data as of") + f" {now.isoformat() if now else '—'}",
                gettext("Policy") + f" {progress['policy_version']}",
            )
        )
        data = document(
            title,
            subtitle,
            _report_sections(chosen, rows, progress, institutions),
            request.app.state.settings.pdf_font,
        )
        name = f"progress-report-{chosen:%Y-%m}.pdf"
        return Response(
            data, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    @routes.get("/bureau/institutions")
    async def institutions_page(request: Request, viewer: Viewer = BUREAU) -> Response:
        return await _institutions_page(request, viewer)

    @routes.post("/bureau/institutions")
    async def accredit(request: Request, viewer: Viewer = BUREAU) -> Response:
        form = await checked_form(request, viewer)
        name, mode = str(form.get("name") or "").strip(), str(form.get("mode") or "")
        if not 2 <= len(name) <= 200:
            return await _institutions_page(
                request, viewer, 422, Flash("error", gettext("The name must have 2 to 200 characters."), "name")
            )
        if mode not in MODES:
            return await _institutions_page(
                request, viewer, 422, Flash("error", gettext("Choose how the institution teaches."), "mode")
            )
        request_id = str(form.get("request_id") or "")
        try:
            idempotency = str(UUID(request_id))
        except ValueError:
            idempotency = None
        try:
            await backend(request).call(
                "enrollment", "POST", "/institutions", viewer.key, json={"name": name, "mode": mode},
                idempotency_key=idempotency,
            )  # fmt: skip
        except Refusal as error:
            return await _institutions_page(request, viewer, error.status, Flash("error", error.message, error.field))
        return done("/bureau/institutions", "accredited", N_("The institution is accredited."))

    async def standing(request: Request, viewer: Viewer, institution_id: UUID, change: str) -> Response:
        form = await checked_form(request, viewer)
        reason = _reason(form)
        if not 3 <= len(reason) <= 500:
            message = gettext("Give a reason of 3 to 500 characters.")
            return await _institutions_page(request, viewer, 422, Flash("error", message, f"reason-{institution_id}"))
        try:
            await backend(request).post(
                "enrollment", f"/institutions/{institution_id}/{change}", viewer.key, {"reason": reason}
            )
        except Refusal as error:
            return await _institutions_page(request, viewer, error.status, Flash("error", error.message, error.field))
        if change == "suspension":
            return done("/bureau/institutions", "suspended", N_("The institution is suspended."))
        return done("/bureau/institutions", "reinstated", N_("The institution is reinstated."))

    @routes.post("/bureau/institutions/{institution_id}/suspension")
    async def suspend(request: Request, institution_id: UUID, viewer: Viewer = BUREAU) -> Response:
        return await standing(request, viewer, institution_id, "suspension")

    @routes.post("/bureau/institutions/{institution_id}/reinstatement")
    async def reinstate(request: Request, institution_id: UUID, viewer: Viewer = BUREAU) -> Response:
        return await standing(request, viewer, institution_id, "reinstatement")

    @routes.post("/bureau/institutions/{institution_id}/keys")
    async def issue(request: Request, institution_id: UUID, viewer: Viewer = BUREAU) -> Response:
        await checked_form(request, viewer)
        try:
            answer = await backend(request).post("enrollment", f"/institutions/{institution_id}/keys", viewer.key)
        except Refusal as error:
            return await _institutions_page(request, viewer, error.status, Flash("error", error.message, error.field))
        key = str(answer["api_key"])
        matched = KEY_PATTERN.match(key)
        institutions = await backend(request).get("enrollment", "/institutions", viewer.key)
        name = next((i["name"] for i in institutions if i["id"] == str(institution_id)), str(institution_id))
        issued = {
            "key": key, "key_id": matched.group(1) if matched else None, "institution": name,
            "institution_id": str(institution_id),
        }  # fmt: skip
        return await _institutions_page(
            request, viewer, 201, Flash("ok", gettext("A key was issued. It is shown below this once only.")),
            issued=issued,
        )  # fmt: skip

    @routes.post("/bureau/keys/revoke")
    async def revoke_any(request: Request, viewer: Viewer = BUREAU) -> Response:
        """The revocation form with the institution chosen in a list."""
        form = await checked_form(request, viewer)
        try:
            institution_id = UUID(str(form.get("institution_id") or ""))
        except ValueError:
            message = gettext("Choose the institution the key belongs to.")
            return await _institutions_page(request, viewer, 422, Flash("error", message, "institution_id"))
        key_id = str(form.get("key_id") or "").strip().lower()
        if not KEY_ID.match(key_id):
            message = gettext("A key id has 32 characters 0-9 and a-f (the part of the key after “inst_”).")
            return await _institutions_page(request, viewer, 422, Flash("error", message, "key_id"))
        try:
            await backend(request).call(
                "enrollment", "DELETE", f"/institutions/{institution_id}/keys/{key_id}", viewer.key
            )
        except Refusal as error:
            return await _institutions_page(request, viewer, error.status, Flash("error", error.message, "key_id"))
        return done("/bureau/institutions", "revoked", N_("The key is revoked: it opens nothing any more."))

    @routes.get("/bureau/flagged")
    async def flagged_page(request: Request, since: str | None = None, viewer: Viewer = BUREAU) -> Response:
        chosen: date | None = None
        if since:
            try:
                chosen = date.fromisoformat(since)
            except ValueError:
                detail = gettext("Write the day as YYYY-MM-DD:") + " since"
                return page(request, "error.html", viewer, status=422, code="invalid_since", detail=detail)
        api = backend(request)
        flagged = await api.get(
            "enrollment", "/flagged-institutions", viewer.key, since=chosen.isoformat() if chosen else None
        )
        lookups = await api.get("enrollment", "/identity-lookups", viewer.key, limit=LOOKUPS_SHOWN)
        institutions = await api.get("enrollment", "/institutions", viewer.key)
        names = {f"institution:{i['id']}": i["name"] for i in institutions}
        lookup_rows = [{**e, "at": _when(e["at"]), "institution": names.get(e["actor"], e["actor"])} for e in lookups]
        by_institution = fc.summed(
            [
                {
                    "institution": r["institution"],
                    "lookups": 1,
                    "refused": 0 if str(r["reason"] or "").endswith(": accepted") else 1,
                }
                for r in lookup_rows
            ],
            ("institution",),
            ("lookups", "refused"),
        )
        by_institution.sort(key=lambda r: (-r["refused"], -r["lookups"], r["institution"]))
        tables = [
            Table(
                "flagged",
                N_("Flagged institution days"),
                (
                    Column("day", N_("Day")),
                    Column("name", N_("Institution")),
                    Column("status", N_("Status"), "code"),
                    Column("rows", N_("Rows sent"), "int"),
                    Column("refused", N_("Rows refused"), "int"),
                    Column("refused_share", N_("Share refused"), "pct"),
                ),
                flagged,
                empty=N_("No institution refused a large share of a day's rows in this period."),
            ),
            Table(
                "lookup-sums",
                N_("Identity lookups by institution"),
                (
                    Column("institution", N_("Institution")),
                    Column("lookups", N_("Lookups"), "int"),
                    Column("refused", N_("Refusals that revealed a record"), "int"),
                ),
                by_institution,
                note=N_("Counted over the lookups listed below."),
            ),
            Table(
                "lookups",
                N_("Identity-lookup audit"),
                (
                    Column("at", N_("When"), "datetime"),
                    Column("institution", N_("Institution")),
                    Column("subject", N_("Trainee (pseudonym)")),
                    Column("reason", N_("What it revealed")),
                ),
                lookup_rows,
                note=N_(
                    "The latest 1,000 entries, newest first: every enrolment answer that revealed something of "
                    "a person's record elsewhere (a tier passed or taken at another institution)."
                ),
            ),
        ]
        return page(
            request, "bureau/flagged.html", viewer, Ctx(tables=tables), since=chosen.isoformat() if chosen else ""
        )

    @routes.get("/bureau/operations")
    async def operations_page(request: Request, viewer: Viewer = BUREAU) -> Response:
        return await _operations(request, viewer)

    async def _operations(request: Request, viewer: Viewer, status: int = 200, flash: Flash | None = None) -> Response:
        api = backend(request)
        dead = await api.all_pages("enrollment", "/dead-letters", viewer.key)
        parked = await api.all_pages("enrollment", "/dead-letters/outbox/parked", viewer.key)
        tables = [
            Table(
                "dead-letters",
                N_("Dead letters"),
                (
                    Column("id", N_("No."), "int"),
                    Column("consumer", N_("Consumer")),
                    Column("topic", N_("Topic")),
                    Column("partition", N_("Partition"), "int"),
                    Column("offset", N_("Offset"), "int"),
                    Column("key", N_("Message key")),
                    Column("error", N_("Error")),
                    Column("created_at", N_("Dead since"), "datetime"),
                ),
                [{**d, "created_at": _when(d["created_at"])} for d in dead],
                empty=N_("No dead letters."),
                actions=["replay"],
            ),
            Table(
                "parked",
                N_("Parked outbox rows"),
                (
                    Column("id", N_("No."), "int"),
                    Column("topic", N_("Topic")),
                    Column("event_id", N_("Event id")),
                    Column("size", N_("Bytes"), "int"),
                    Column("attempts", N_("Attempts"), "int"),
                    Column("last_error", N_("Last error")),
                    Column("parked_at", N_("Parked since"), "datetime"),
                ),
                [{**p, "parked_at": _when(p["parked_at"])} for p in parked],
                empty=N_("No parked outbox rows."),
                actions=["retry"],
            ),
        ]
        return page(
            request, "bureau/operations.html", viewer, Ctx(tables=tables), status=status, flash=flash, live=False
        )

    @routes.post("/bureau/operations/dead-letters/{dead_letter_id}/replay")
    async def replay(request: Request, dead_letter_id: int, viewer: Viewer = BUREAU) -> Response:
        await checked_form(request, viewer)
        try:
            await backend(request).post("enrollment", f"/dead-letters/{dead_letter_id}/replay", viewer.key)
        except Refusal as error:
            return await _operations(request, viewer, error.status, Flash("error", error.message))
        return done("/bureau/operations", "replayed", N_("The message is back on its topic."))

    @routes.post("/bureau/operations/parked/{row_id}/retry")
    async def retry(request: Request, row_id: int, viewer: Viewer = BUREAU) -> Response:
        await checked_form(request, viewer)
        try:
            await backend(request).post("enrollment", f"/dead-letters/outbox/parked/{row_id}/retry", viewer.key)
        except Refusal as error:
            return await _operations(request, viewer, error.status, Flash("error", error.message))
        return done("/bureau/operations", "retried", N_("The row is given back to the relay."))

    return routes
