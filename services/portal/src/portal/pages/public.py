"""The public's page: the plan's progress as open data, with no log-in.

Aggregates only, from the portal's read model (which holds no name, ID number or pseudonym), with every cell
counting fewer than 5 people suppressed (portal.opendata): the page, its charts and its CSV/XLSX downloads show
the same published values."""

from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal import opendata
from portal.i18n import N_, gettext
from portal.tables import Column, Table, translate_code
from portal.web import Chart, Ctx, current_viewer, page, store_of

CITY_TIME = ZoneInfo("Asia/Shanghai")
COLOURS = ["#1d4e89", "#1e7b34", "#b7791f"]


class OpenTable(Table):
    """A table of published counts: kind "count" is a number, or the text "<5" where it is suppressed (in the
    page and in the downloads alike)."""

    def value(self, row: dict[str, Any], column: Column) -> Any:
        if column.kind == "count":
            raw = row.get(column.key)
            return raw if isinstance(raw, str) else int(raw or 0)
        return super().value(row, column)

    def display(self, row: dict[str, Any], column: Column) -> str:
        if column.kind == "count":
            raw = row.get(column.key)
            return shown(raw if isinstance(raw, str) else int(raw or 0))
        return super().display(row, column)


def shown(cell: opendata.Cell) -> str:
    return cell if isinstance(cell, str) else f"{cell:,}"


def labelled(rows: Sequence[Mapping[str, Any]], key: str, total_label: str, codes: bool) -> list[dict[str, Any]]:
    """Each row with the label a reader sees (the total row named, codes translated)."""
    out = []
    for row in rows:
        value = row[key]
        label = str(value)
        if value == opendata.TOTAL:
            label = gettext(total_label)
        elif codes:
            label = translate_code(label)
        out.append({**row, "label": label, "total": value == opendata.TOTAL})
    return out


def _table(
    table_id: str, title: str, first: str, rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]]
) -> Table:
    return OpenTable(
        table_id,
        title,
        [Column("label", first), *(Column(key, label, "count") for key, label in columns)],
        rows,
        note=N_('Cells counting fewer than 5 people show "<5"; see how cells are suppressed below.'),
    )


def _bars(chart_id: str, rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]], kind: str = "bar") -> Chart:
    inner = [r for r in rows if not r["total"]]
    return Chart(
        chart_id,
        {
            "color": COLOURS,
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "grid": {"left": 56, "right": 16, "top": 36, "bottom": 48},
            "xAxis": {
                "type": "category",
                "data": [r["label"] for r in inner],
                "axisLabel": {"interval": 0, "hideOverlap": True, "width": 84, "overflow": "break"},
            },
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [
                {
                    "name": gettext(label),
                    "type": kind,
                    "data": [opendata.chart_value(r[key]) for r in inner],
                    **({"connectNulls": False, "symbolSize": 6} if kind == "line" else {}),
                }
                for key, label in columns
            ],
        },
        height=320,
    )


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/open")
    async def open_data(request: Request) -> Response:
        viewer = await current_viewer(request)
        async with store_of(request)() as store:
            tiers = opendata.by_tier(await store.counts())
            groups = opendata.by_target_group(await store.counts(by="target_group"))
            months = opendata.by_month(await store.counts(by="start_month"), await store.counts(by="completion_month"))
            changed = await store.last_changed()
        people = (("enrolled", N_("Enrolled")), ("completed", N_("Passed")), ("withdrawn", N_("Withdrawn")))
        monthly = (("started", N_("Courses started")), ("completed", N_("Courses passed")))
        tier_rows = labelled(tiers, "tier", N_("All tiers"), codes=True)
        group_rows = labelled(groups, "target_group", N_("All groups"), codes=True)
        month_rows = labelled(months, "month", N_("All months"), codes=False)
        total = tier_rows[-1]
        figures = [
            (gettext("Enrolled"), shown(total["enrolled"]), "open-enrolled"),
            (gettext("Passed"), shown(total["completed"]), "open-completed"),
            (gettext("Withdrawn"), shown(total["withdrawn"]), "open-withdrawn"),
        ]
        return page(
            request,
            "public/open.html",
            viewer,
            Ctx(
                tables=[
                    _table("by-tier", N_("By tier"), N_("Tier"), tier_rows, people),
                    _table("by-target-group", N_("By target group"), N_("Target group"), group_rows, people),
                    _table("by-month", N_("By month"), N_("Month"), month_rows, monthly),
                ],
                charts=[
                    _bars("chart-open-tiers", tier_rows, people),
                    _bars("chart-open-groups", group_rows, people),
                    _bars("chart-open-months", month_rows, monthly, kind="line"),
                ],
                extra={
                    "figure_items": figures,
                    "updated": changed.astimezone(CITY_TIME).strftime("%Y-%m-%d %H:%M:%S"),
                    "threshold": opendata.THRESHOLD,
                },
            ),
        )

    return r
