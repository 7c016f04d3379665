"""The public open-data page in a real browser, after a simulated cohort: no log-in, numbers equal to the read
model (and enrollment's own progress), every cell under 5 people suppressed on the page and in its downloads."""

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from typing import Any, TypeVar

import asyncpg

from portal import opendata
from tests.support.portal import PlanSystem, Portal, csv_rows, xlsx_rows

T = TypeVar("T")


def _read_model(system: PlanSystem) -> list[dict[str, Any]]:
    """The read model's enrolments, read with the portal's own database role (in a thread of its own: the
    browser's sync API keeps an event loop running in this one)."""

    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(system.environments["portal"]["DATABASE_URL"])
        try:
            rows = await conn.fetch(
                """SELECT tier, target_group, status, to_char(starts_on, 'YYYY-MM') AS started,
                          to_char(completed_on, 'YYYY-MM') AS ended FROM portal.enrolments"""
            )
        finally:
            await conn.close()
        return [dict(r) for r in rows]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, fetch()).result()


def _eventually(check: Callable[[], T], timeout: float = 90) -> T:
    """The read model follows the events: poll `check` (which raises AssertionError until it holds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _cells(view: Portal, table_id: str) -> list[list[str]]:
    return view.page.eval_on_selector_all(  # type: ignore[no-any-return]
        f"#table-{table_id} tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )


def _published(cell: str) -> int | str:
    return cell if cell == opendata.SUPPRESSED else int(cell.replace(",", ""))


def _truth(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """What the page must show, counted here from the read model's rows (not through the portal's queries)."""
    tiers = [
        {
            "tier": tier,
            "key": None,
            "enrolled": sum(r["tier"] == tier for r in rows),
            "completed": sum(r["tier"] == tier and r["status"] == "passed" for r in rows),
            "withdrawn": sum(r["tier"] == tier and r["status"] == "withdrawn" for r in rows),
        }
        for tier in opendata.TIERS
    ]
    groups = [
        {
            "tier": "basic",
            "key": group,
            "enrolled": sum(r["target_group"] == group for r in rows),
            "completed": sum(r["target_group"] == group and r["status"] == "passed" for r in rows),
            "withdrawn": sum(r["target_group"] == group and r["status"] == "withdrawn" for r in rows),
        }
        for group in opendata.TARGET_GROUPS
    ]
    months = sorted({r["started"] for r in rows if r["started"]} | {r["ended"] for r in rows if r["ended"]})
    starts = [{"key": m, "enrolled": sum(r["started"] == m for r in rows)} for m in months]
    ends = [{"key": m, "completed": sum(r["ended"] == m and r["status"] == "passed" for r in rows)} for m in months]
    return {
        "raw_tiers": tiers,
        "by-tier": opendata.by_tier(tiers),
        "by-target-group": opendata.by_target_group(groups),
        "by-month": opendata.by_month(starts, ends),
    }


COLUMNS = {
    "by-tier": ("enrolled", "completed", "withdrawn"),
    "by-target-group": ("enrolled", "completed", "withdrawn"),
    "by-month": ("started", "completed"),
}


def test_open_data_needs_no_log_in_equals_the_read_model_and_suppresses_small_cells(
    system: PlanSystem, as_role: Any
) -> None:
    view: Portal = as_role(None)
    answer = view.page.goto(system.url + "/open")
    assert answer is not None and answer.status == 200
    assert view.page.url == system.url + "/open"
    assert view.page.locator("#who").count() == 0 and view.page.locator("#login-link").is_visible()
    assert view.page.locator("#suppression").is_visible()
    assert view.page.inner_text("#open-updated-at").startswith("20")

    def settled() -> dict[str, list[dict[str, Any]]]:
        truth = _truth(_read_model(system))
        progress = system.call("enrollment", "GET", "/progress", "bureau").json()
        for counts in truth["raw_tiers"]:  # the read model has caught up with enrollment
            own = progress["tiers"][counts["tier"]]
            assert [own[k] for k in ("enrolled", "completed", "withdrawn")] == [
                counts[k] for k in ("enrolled", "completed", "withdrawn")
            ], counts["tier"]
        return truth

    truth = _eventually(settled)
    total = truth["by-tier"][-1]
    view.page.reload()
    assert view.page.inner_text("#fig-open-enrolled") == _shown(total["enrolled"])

    suppressed = 0
    for table_id, columns in COLUMNS.items():
        expected = truth[table_id]
        shown = _cells(view, table_id)
        assert len(shown) == len(expected), table_id
        for row, want in zip(shown, expected, strict=True):
            values = [_published(c) for c in row[1:]]
            assert values == [want[c] for c in columns], (table_id, row, want)
            # the rule itself: nothing under 5 is ever shown
            assert all(v == opendata.SUPPRESSED or v >= opendata.THRESHOLD for v in values)
            suppressed += values.count(opendata.SUPPRESSED)
        assert shown[-1][0] in ("全部层级", "全部类别", "全部月份")
        # the downloads hold the same published values, "<5" included
        _, data = view.download(f"#dl-{table_id}-csv")
        rows = csv_rows(data)
        assert [[_published(c) for c in r[1:]] for r in rows[1:]] == [[_published(c) for c in r[1:]] for r in shown]
        _, data = view.download(f"#dl-{table_id}-xlsx")
        sheet = xlsx_rows(data)
        assert [r[1:] for r in sheet[1:]] == [[_published(c) for c in r[1:]] for r in shown]
    small = [
        t[c] for t in truth["raw_tiers"] for c in ("enrolled", "completed", "withdrawn") if t[c] < opendata.THRESHOLD
    ]
    assert suppressed >= len(small)  # a small cohort has small cells: they are there, suppressed
    for chart in ("chart-open-tiers", "chart-open-groups", "chart-open-months"):
        view.page.wait_for_selector(f"#{chart} svg")
    view.shoot("public-open")
    view.switch_language("en")
    assert view.page.inner_text("h1") == "The plan's progress: open data"
    assert _cells(view, "by-tier")[-1][0] == "All tiers"
    view.page.wait_for_selector("#chart-open-tiers svg")
    view.shoot("public-open")
    assert view.clean() == []


def _shown(cell: int | str) -> str:
    return cell if isinstance(cell, str) else f"{cell:,}"


def test_a_logged_in_reader_sees_the_same_page_with_a_way_back(system: PlanSystem, as_role: Any) -> None:
    view: Portal = as_role("institution")
    view.goto("/open")
    assert view.page.locator('nav.roles a[href="/institution"]').is_visible()
    assert view.page.locator("#table-by-tier").is_visible()
    assert view.clean() == []
