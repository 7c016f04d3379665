"""The Bureau's pages in a real browser, after a small simulated cohort: the progress page's numbers are
enrollment's GET /progress, the months add up to the totals, every table downloads as the page shows it, the
monthly report is a PDF with the month's numbers; an institution is accredited, given a key (which logs in),
suspended, reinstated and has its key revoked, all through the forms; flagged institutions and dead letters
as the API lists them. Screenshots of every page in Chinese and English."""

import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page
from pypdf import PdfReader

from tests.support import portal
from tests.support.portal import PlanSystem, csv_rows, xlsx_rows

pytestmark = pytest.mark.e2e
TIERS = ("basic", "professional", "senior")
OpenAs = Callable[..., portal.Portal]


# --- reading the page's tables -------------------------------------------------------------------------------


def html_table(page: Page, table_id: str) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of a table as shown; the column of row forms (if any) left out; an empty table has no row."""
    found: dict[str, Any] = page.evaluate(
        """(id) => {
            const table = document.getElementById(id);
            const heads = [...table.querySelectorAll('thead th:not(.actions)')].map(th => th.innerText.trim());
            const rows = [...table.querySelectorAll('tbody tr')]
                .filter(tr => !tr.querySelector('td.empty'))
                .map(tr => [...tr.querySelectorAll('td:not(.actions)')].map(td => td.innerText.trim()));
            return {heads, rows};
        }""",
        f"table-{table_id}",
    )
    heads: list[str] = found["heads"]
    return heads, found["rows"]


def same_cell(shown: str, exported: Any) -> bool:
    """A cell as the page shows it and as a file holds it: numbers as numbers, "—" as empty."""
    if shown == "—":
        return exported in ("", None)
    if shown.endswith("%"):
        return abs(float(shown[:-1].replace(",", "")) / 100 - float(exported)) < 0.0006
    if isinstance(exported, int | float):  # a spreadsheet's number (1.0 is read back as 1)
        return abs(float(shown.replace(",", "")) - float(exported)) < 1e-9
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+", shown):  # 1,234 on the page, 1234 in a CSV file
        return int(shown.replace(",", "")) == int(exported)
    text = str(exported)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}.*", text):  # a datetime: the page shows minutes
        return shown == text[:16].replace("T", " ")
    return shown == text.lstrip("'") if text.startswith("'") else shown == text


def check_downloads(view: portal.Portal, table_id: str) -> list[list[str]]:
    """Both files of a table hold exactly the page's header and rows; the page's rows returned."""
    heads, rows = html_table(view.page, table_id)
    name, data = view.download(f"#dl-{table_id}-csv")
    assert name.startswith(table_id) and name.endswith(".csv")
    from_csv = csv_rows(data)
    assert from_csv[0] == heads, (table_id, from_csv[0], heads)
    assert len(from_csv) - 1 == len(rows), table_id
    for shown, exported in zip(rows, from_csv[1:], strict=True):
        assert all(same_cell(s, e) for s, e in zip(shown, exported, strict=True)), (table_id, shown, exported)
    name, data = view.download(f"#dl-{table_id}-xlsx")
    assert name.endswith(".xlsx")
    from_xlsx = xlsx_rows(data)
    assert [str(h) for h in from_xlsx[0]] == heads
    assert len(from_xlsx) - 1 == len(rows), table_id
    for shown, exported in zip(rows, from_xlsx[1:], strict=True):
        assert all(same_cell(s, "" if e is None else e) for s, e in zip(shown, exported, strict=True)), (
            table_id,
            shown,
            exported,
        )
    return rows


def submit(page: Page, selector: str) -> None:
    """Click a form's button and wait for the page it leads to (loaded, scripts and all)."""
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


def number(text: str) -> int:
    return int(text.replace(",", ""))


# --- progress ------------------------------------------------------------------------------------------------


def settled_progress(view: portal.Portal, system: PlanSystem) -> dict[str, Any]:
    """enrollment's /progress once the portal's read model has every enrolment of it (the months table adds up
    to the API's totals): the page reloads until then, for at most 60 s."""
    deadline = 120
    for _ in range(deadline):
        progress: dict[str, Any] = system.call("enrollment", "GET", "/progress", "bureau").json()
        view.goto("/bureau")
        _, months = html_table(view.page, "months")
        enrolled = sum(number(cell) for row in months for cell in row[1:4])
        if enrolled == sum(progress["tiers"][t]["enrolled"] for t in TIERS):
            return progress
        view.page.wait_for_timeout(500)  # the read model is still consuming: look again
    raise AssertionError("the portal's read model never caught up with enrollment's /progress")


def test_the_progress_page_shows_enrollments_numbers_and_the_report(system: PlanSystem, as_role: OpenAs) -> None:
    view = as_role("bureau")
    assert view.page.url == system.url + "/bureau"
    progress = settled_progress(view, system)
    page = view.page

    # per tier: exactly GET /progress
    _, tiers = html_table(page, "tiers")
    assert len(tiers) == 3
    for row, tier in zip(tiers, TIERS, strict=True):
        api = progress["tiers"][tier]
        assert [number(c) for c in row[1:6]] == [
            api["enrolled"], api["open"], api["completed"], api["failed"], api["withdrawn"],
        ], tier  # fmt: skip
        for cell, rate in zip(row[6:9], ("completion_rate", "employment_rate", "own_business_rate"), strict=True):
            assert same_cell(cell, "" if api[rate] is None else api[rate]), (tier, rate, cell)
    total_enrolled = sum(progress["tiers"][t]["enrolled"] for t in TIERS)
    total_completed = sum(progress["tiers"][t]["completed"] for t in TIERS)
    assert total_completed > 0
    assert number(page.locator("#fig-enrolled").inner_text()) == total_enrolled
    assert number(page.locator("#fig-completed").inner_text()) == total_completed

    # against the targets: the 2020 and the plan's, per tier
    _, targets = html_table(page, "targets")
    assert len(targets) == 6
    for index, tier in enumerate(TIERS):
        year_row, plan_row = targets[2 * index], targets[2 * index + 1]
        api = progress["tiers"][tier]
        in_2020 = sum(
            r["completed"] for r in progress["by_completion_year"] if r["tier"] == tier and r["completion_year"] == 2020
        )
        assert (number(year_row[2]), number(year_row[3])) == (in_2020, api["targets"]["2020"])
        assert (number(plan_row[2]), number(plan_row[3])) == (api["completed"], api["targets"]["plan"])
        assert plan_row[7] in ("已达成", "按当前速度可如期达成", "按当前速度无法如期达成", "未达成（已过期限）")

    # by month: the columns add up to the totals, per tier
    _, months = html_table(page, "months")
    for offset, tier in enumerate(TIERS):
        assert sum(number(r[1 + offset]) for r in months) == progress["tiers"][tier]["enrolled"], tier
        assert sum(number(r[4 + offset]) for r in months) == progress["tiers"][tier]["completed"], tier
    assert sum(number(r[7]) for r in months) == total_completed

    # by target group: GET /progress's rows
    _, groups = html_table(page, "groups")
    assert len(groups) == len(progress["by_target_group"])
    assert sum(number(r[3]) for r in groups) == total_completed

    # the league table: every institution, named, with its completions summed over the tiers
    institutions = system.call("enrollment", "GET", "/institutions", "bureau").json()
    _, league = html_table(page, "league")
    assert len(league) == len(institutions)
    done = {i["name"]: 0 for i in institutions}
    names = {i["id"]: i["name"] for i in institutions}
    for row in progress["by_institution"]:
        done[names[row["institution_id"]]] += row["completed"]
    assert {r[1]: number(r[4]) for r in league} == done
    assert [number(r[4]) for r in league] == sorted(done.values(), reverse=True)

    # the charts are drawn (ECharts renders SVG)
    for chart in ("chart-targets", "chart-groups", "chart-completions", "chart-enrolments", "chart-cumulative-basic"):
        page.wait_for_selector(f"#{chart} svg")

    # the monthly report: the latest month by default, in the caller's language
    latest = page.locator("#report-download").get_attribute("data-month")
    assert latest and re.fullmatch(r"\d{4}-\d{2}", latest)
    name, data = view.download("#report-download")
    assert name == f"progress-report-{latest}.pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert "月度进展报告" in text and latest in text
    month_row = next(r for r in months if r[0] == latest)
    assert f"{total_completed:,}" in text and f"{total_enrolled:,}" in text
    assert month_row[7] in text  # completed in the month (all tiers)
    for name_ in done:  # the league table (a long name wraps: compared without spaces)
        assert re.sub(r"\s", "", name_) in re.sub(r"\s", "", text)

    for table_id in ("tiers", "targets", "months", "groups", "league"):
        check_downloads(view, table_id)

    bad = page.request.get(system.url + "/bureau/report.pdf?month=2021-13")
    assert bad.status == 422 and 'data-code="invalid_month"' in bad.text() and "month" in bad.text()
    view.shoot("bureau-progress")
    view.switch_language("en")
    page.wait_for_selector("#chart-targets svg")
    assert page.locator("h1").inner_text() == "Progress against the plan"
    name, data = view.download("#report-download")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert "Monthly progress report" in text
    view.shoot("bureau-progress")
    assert view.clean() == []


# --- institutions --------------------------------------------------------------------------------------------


def institution_row(page: Page, institution_id: str) -> str:
    return page.locator(f'#table-institutions tr[data-row="{institution_id}"]').inner_text()


def test_an_institution_is_accredited_given_a_key_suspended_reinstated_and_its_key_revoked(
    system: PlanSystem, as_role: OpenAs, browser: Browser
) -> None:
    view = as_role("bureau")
    view.goto("/bureau/institutions")
    page = view.page
    listed = system.call("enrollment", "GET", "/institutions", "bureau").json()
    _, rows = html_table(page, "institutions")
    assert sorted(r[0] for r in rows) == sorted(i["name"] for i in listed)

    # accredit
    name = f"石家庄测试直播学院 {uuid.uuid4().hex[:6]}"
    page.fill("#accredit-name", name)
    page.select_option("#accredit-mode", "online")
    submit(page, "#accredit-submit")
    assert page.url.endswith("/bureau/institutions?ok=accredited")
    assert page.locator("#flash").inner_text() == "培训机构已认定。"
    created = next(i for i in system.call("enrollment", "GET", "/institutions", "bureau").json() if i["name"] == name)
    assert created["mode"] == "online" and created["status"] == "active"
    ident = created["id"]
    assert name in institution_row(page, ident)

    # a name too short is refused by the server too (422 naming the field), whatever the browser checks
    csrf = page.locator("#accredit-form input[name=csrf]").get_attribute("value")
    answer = page.request.post(
        system.url + "/bureau/institutions", form={"csrf": csrf or "", "name": "x", "mode": "online"}
    )
    assert answer.status == 422 and "名称" in answer.text()
    answer = page.request.post(
        system.url + "/bureau/keys/revoke", form={"csrf": csrf or "", "institution_id": ident, "key_id": "not-hex"}
    )
    assert answer.status == 422

    # issue a key: shown once, with its id
    submit(page, f"#issue-{ident} button")
    key = page.locator("#issued-key-value").inner_text()
    key_id = page.locator("#issued-key-id").inner_text()
    assert key.startswith(f"inst_{key_id}_") and len(key_id) == 32
    view.shoot("bureau-institutions-key-issued")

    # the key logs in, in another browser context, and lands on the institution's pages
    other = portal.Portal(browser, system.url)
    try:
        other.login(key)
        assert other.page.url == system.url + "/institution"
    finally:
        other.close()

    # suspend: suspended in the table and in enrollment
    view.goto("/bureau/institutions")
    page.fill(f"#suspend-{ident} input[name=reason]", "端到端测试：暂停")
    submit(page, f"#suspend-{ident} button")
    assert page.url.endswith("?ok=suspended")
    assert page.locator(f'#table-institutions tr[data-row="{ident}"] td.status-suspended').count() == 1
    assert system.call("enrollment", "GET", f"/institutions/{ident}", "bureau").json()["status"] == "suspended"

    # reinstate
    page.fill(f"#reinstate-{ident} input[name=reason]", "端到端测试：恢复")
    submit(page, f"#reinstate-{ident} button")
    assert page.url.endswith("?ok=reinstated")
    assert page.locator(f'#table-institutions tr[data-row="{ident}"] td.status-active').count() == 1
    assert system.call("enrollment", "GET", f"/institutions/{ident}", "bureau").json()["status"] == "active"

    # revoke the key (the page asks first): it opens nothing any more
    page.select_option("#revoke-institution", ident)
    page.fill("#revoke-key-id", key_id)
    page.once("dialog", lambda dialog: dialog.accept())
    submit(page, "#revoke-submit")
    assert page.url.endswith("?ok=revoked")
    assert httpx.get(system.api("enrollment") + "/institution", headers={"X-API-Key": key}).status_code == 401
    refused = portal.Portal(browser, system.url)
    try:
        refused.login(key)
        assert refused.page.locator("#flash").inner_text() == "此密钥无法打开任何页面。"
    finally:
        refused.close()
    # revoking it again: enrollment's refusal shown on the page, a 404, not a crash
    again = page.request.post(
        system.url + "/bureau/keys/revoke", form={"csrf": csrf or "", "institution_id": ident, "key_id": key_id}
    )
    assert again.status == 404 and 'class="flash error"' in again.text()

    view.goto("/bureau/institutions")
    rows = check_downloads(view, "institutions")
    assert any(r[0] == name and r[4] == ident for r in rows)
    view.shoot("bureau-institutions")
    view.switch_language("en")
    assert page.locator("#accredit h3").inner_text() == "Accredit an institution"
    view.shoot("bureau-institutions")
    assert view.clean() == []


# --- flagged institutions and dead letters ---------------------------------------------------------------------


def test_flagged_institutions_and_identity_lookups_as_the_api_lists_them(system: PlanSystem, as_role: OpenAs) -> None:
    view = as_role("bureau")
    view.goto("/bureau/flagged?since=2020-01-01")
    flagged = system.call("enrollment", "GET", "/flagged-institutions", "bureau", params={"since": "2020-01-01"}).json()
    lookups = system.call("enrollment", "GET", "/identity-lookups", "bureau", params={"limit": 1000}).json()
    assert lookups, "the cohort's professional and senior enrolments are looked up"
    rows = check_downloads(view, "flagged")
    assert [(r[1], number(r[3]), number(r[4])) for r in rows] == [(f["name"], f["rows"], f["refused"]) for f in flagged]
    rows = check_downloads(view, "lookups")
    assert [r[2] for r in rows] == [e["subject"] for e in lookups]
    sums = check_downloads(view, "lookup-sums")
    assert sum(number(r[1]) for r in sums) == len(lookups)
    bad = view.page.request.get(system.url + "/bureau/flagged?since=yesterday")
    assert bad.status == 422 and "since" in bad.text()
    view.shoot("bureau-flagged")
    view.switch_language("en")
    view.shoot("bureau-flagged")
    assert view.clean() == []


def test_dead_letters_and_parked_rows_as_the_api_lists_them(system: PlanSystem, as_role: OpenAs) -> None:
    view = as_role("bureau")
    view.goto("/bureau/operations")
    dead = system.call("enrollment", "GET", "/dead-letters", "bureau").json()
    parked = system.call("enrollment", "GET", "/dead-letters/outbox/parked", "bureau").json()
    assert [number(r[0]) for r in check_downloads(view, "dead-letters")] == [d["id"] for d in dead]
    assert [number(r[0]) for r in check_downloads(view, "parked")] == [p["id"] for p in parked]
    assert "最小权限" in view.page.locator("#least-privilege").inner_text()
    # replaying a dead letter that is not there: enrollment's refusal on the page, never a 5xx
    csrf = view.page.locator("form.inline input[name=csrf]").first.get_attribute("value")
    answer = view.page.request.post(
        system.url + "/bureau/operations/dead-letters/999999/replay", form={"csrf": csrf or ""}
    )
    assert answer.status == 404
    view.shoot("bureau-operations")
    view.switch_language("en")
    view.shoot("bureau-operations")
    assert view.clean() == []
