"""The finance office's pages in a real browser, after the cohort: the fund equals GET /fund and the summary GET
/summary; subsidies filtered; a decision's why; a payment batch created and paid (the fund's paid figure moves);
a subsidy reversed (the burn-down moves); every table's CSV and XLSX equal the page; screenshots in zh and en."""

import json
import re
from typing import Any

from playwright.sync_api import Response

from tests.support.portal import PlanSystem, Portal, csv_rows, xlsx_rows

ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})")


def yuan(value: int) -> str:
    return f"¥{value:,}"


def shown_rows(view: Portal, table_id: str) -> tuple[list[str], list[list[str]]]:
    """A table's header and data rows as the page shows them (no action column, no "nothing yet" row)."""
    table = view.page.locator(f"#table-{table_id}")
    header = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = []
    for tr in table.locator("tbody tr").all():
        if tr.locator("td.empty").count():
            continue
        rows.append([c.strip() for c in tr.locator("td:not(.actions)").all_inner_texts()])
    return [h for h in header if h], rows


def as_shown(cell: Any) -> str:
    """An exported cell written as the page writes it, to compare the two."""
    if cell is None or cell == "":
        return "—"
    text = str(cell)
    moment = ISO_TIME.match(text)
    if moment:
        return f"{moment.group(1)} {moment.group(2)}"
    return text


def plain(cell: str) -> str:
    return cell.replace("¥", "").replace(",", "")


def exports_match_the_page(view: Portal, table_id: str) -> list[list[str]]:
    """Download the table as CSV and XLSX; both hold exactly the rows on the screen. Returns the CSV rows."""
    header, rows = shown_rows(view, table_id)
    name, data = view.download(f"#dl-{table_id}-csv")
    assert name.startswith(table_id) and name.endswith(".csv")
    got = csv_rows(data)
    assert got[0] == header, (table_id, got[0], header)
    assert len(got) - 1 == len(rows), (table_id, len(got) - 1, len(rows))
    for exported, on_screen in zip(got[1:], rows, strict=True):
        assert [plain(as_shown(c)) for c in exported] == [plain(c) for c in on_screen], (table_id, exported, on_screen)
    name, data = view.download(f"#dl-{table_id}-xlsx")
    assert name.endswith(".xlsx")
    sheet = xlsx_rows(data)
    assert [str(c) for c in sheet[0]] == header
    assert [["" if c is None else str(c) for c in r] for r in sheet[1:]] == got[1:], table_id
    return got


def submit(view: Portal, selector: str) -> int:
    """Click a form's button; the status the portal answered the POST with (303 after success, 4xx refused)."""
    with view.page.expect_response(lambda r: r.request.method == "POST") as answered:
        view.page.click(selector)
    view.page.wait_for_load_state("load")
    return answered.value.status


def watch(view: Portal) -> list[str]:
    """Every script, style sheet, font, image or fetch of the page that did not load (collected from now on)."""
    failed: list[str] = []

    def seen(response: Response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            failed.append(f"{response.request.resource_type} {response.url}: HTTP {response.status}")

    view.page.on("response", seen)
    return failed


def problems(view: Portal, failed: list[str]) -> list[str]:
    """Script errors, CSP violations, foreign hosts and resources that did not load. Chromium also logs a page
    answered with a 4xx on purpose (a refused form) as "Failed to load resource": those pages' statuses are
    asserted where they are provoked, and a resource's failure is in `failed`."""
    own = [p for p in view.clean() if not p.startswith("console error: Failed to load resource")]
    return own + failed


def figure(view: Portal, name: str) -> str:
    return view.page.locator(f"#fig-{name}").inner_text().strip()


def burndown_committed(view: Portal) -> int:
    option = json.loads(view.page.locator("#burndown").get_attribute("data-chart") or "{}")
    return int(option["series"][0]["data"][-1][1])


def test_the_finance_office_pages(system: PlanSystem, as_role: Any) -> None:
    view: Portal = as_role("finance")
    failed = watch(view)
    api = lambda method, path, **kw: system.call("funding", method, path, "finance", **kw)

    # --- the fund: figures equal GET /fund, the summary GET /summary, the burn-down the read model ----------------
    fund = api("GET", "/fund").json()
    view.goto("/finance")
    assert figure(view, "fund-total") == yuan(fund["total_yuan"])
    assert figure(view, "fund-approved") == yuan(fund["approved_yuan"])
    assert figure(view, "fund-paid") == yuan(fund["paid_yuan"])
    assert figure(view, "fund-reserved") == yuan(fund["reserved_yuan"])
    assert figure(view, "fund-available") == yuan(fund["available_yuan"])
    assert fund["approved_yuan"] > 0
    # the read model's history ends on funding's figure (the open page redraws itself as the read model moves)
    view.page.wait_for_selector(f"#committed-now[data-yuan='{fund['approved_yuan']}']", state="attached")
    assert burndown_committed(view) == fund["approved_yuan"]
    view.page.wait_for_selector("#burndown svg")  # ECharts drew it
    summary = api("GET", "/summary").json()
    by_status = exports_match_the_page(view, "by_status_and_tier")
    assert sorted((r[2], int(r[3])) for r in by_status[1:]) == sorted(
        (str(t["count"]), t["amount_yuan"]) for t in summary["by_status_and_tier"]
    )
    assert len(by_status) - 1 == len(summary["by_status_and_tier"])
    rejections = exports_match_the_page(view, "rejections_by_reason")
    assert sum(int(r[1]) for r in rejections[1:]) == sum(t["count"] for t in summary["rejections_by_reason"])
    ledger = exports_match_the_page(view, "ledger")
    assert sorted(int(r[1]) for r in ledger[1:]) == sorted(summary["ledger"].values())
    view.shoot("finance-fund")

    # --- subsidies, filtered by institution and status, equal GET /subsidies ----------------------------------
    approved = [s for s in api("GET", "/subsidies", params={"status": "approved", "limit": 1000}).json()]
    institutions = sorted({s["institution_id"] for s in approved})
    assert institutions, "the cohort left approved subsidies"
    institution = institutions[0]
    view.goto("/finance/subsidies")
    view.page.select_option("#f-institution", institution)
    view.page.select_option("#f-status", "approved")
    view.page.click("#f-apply")
    view.page.wait_for_load_state("load")
    assert f"institution_id={institution}" in view.page.url
    expected = api("GET", "/subsidies", params={"institution_id": institution, "status": "approved"}).json()
    shown = exports_match_the_page(view, "subsidies")
    assert len(shown) - 1 == len(expected) > 0
    assert {r[-1] for r in shown[1:]} == {s["enrollment_id"] for s in expected}
    view.shoot("finance-subsidies")
    # a filter that is not a date is a 422 naming the field, not a 500
    answer = view.page.goto(system.url + "/finance/subsidies?completed_from=yesterday")
    assert answer is not None and answer.status == 422
    assert view.page.locator("#f-from ~ .field-error").count() == 1

    # --- a decision's why -----------------------------------------------------------------------------------------
    view.goto(f"/finance/subsidies?institution_id={institution}&status=approved")
    first = expected[0]
    view.page.click(f"#table-subsidies a[href='/finance/decisions/{first['enrollment_id']}']")
    view.page.wait_for_load_state("load")
    decision = api("GET", f"/decisions/{first['enrollment_id']}").json()
    assert view.page.locator("#decision-status").get_attribute("data-status") == decision["status"] == "approved"
    assert view.page.locator("#decision-subsidy").inner_text() == decision["id"]
    ledger_rows = exports_match_the_page(view, "decision_ledger")
    assert len(ledger_rows) - 1 == len(decision["ledger"]) > 0
    view.shoot("finance-decision")

    # --- a payment batch: a wrong declaration is refused, the right one creates it; pay it ------------------------
    view.goto("/finance/batches")
    payable = exports_match_the_page(view, "payable")
    owed = {r[0]: (int(r[1]), int(r[2])) for r in payable[1:]}
    target = next(
        i for i in sorted(owed) if api("GET", f"/institutions/{i}").json()["status"] == "active" and i != institution
    )
    count, total = owed[target]
    view.page.fill("#b-institution", target)
    view.page.fill("#b-count", str(count + 1))
    view.page.fill("#b-total", str(total))
    assert submit(view, "#batch-create") == 409  # funding: totals_mismatch
    assert view.page.locator("#flash.error").is_visible()
    assert view.page.locator("#b-count").input_value() == str(count + 1)  # what was typed is kept
    view.page.click(f"#table-payable a[href*='institution_id={target}']")
    view.page.wait_for_load_state("load")
    assert view.page.locator("#b-count").input_value() == str(count)
    paid_before = api("GET", "/fund").json()["paid_yuan"]
    assert submit(view, "#batch-create") == 303
    assert "ok=batch-created" in view.page.url
    batch_id = view.page.locator("#batch").get_attribute("data-batch")
    batch = api("GET", f"/payment-batches/{batch_id}").json()
    assert (batch["subsidy_count"], batch["total_yuan"], batch["status"]) == (count, total, "open")
    assert view.page.locator("#batch-total").inner_text() == yuan(total)
    assert view.page.locator("#pay-total").input_value() == str(total)
    view.page.fill("#pay-total", str(total - 1))
    assert submit(view, "#pay-submit") == 409
    assert view.page.locator("#flash.error").is_visible()
    assert api("GET", f"/payment-batches/{batch_id}").json()["status"] == "open"
    view.goto(f"/finance/batches?batch={batch_id}")
    assert submit(view, "#pay-submit") == 303
    assert "ok=batch-paid" in view.page.url
    assert view.page.locator("#batch").get_attribute("data-status") == "paid"
    assert api("GET", "/fund").json()["paid_yuan"] == paid_before + total
    batches = exports_match_the_page(view, "batches")
    assert batches[1][1] == batch_id and int(batches[1][4]) == total
    view.shoot("finance-batches")
    view.goto("/finance")
    assert figure(view, "fund-paid") == yuan(paid_before + total)

    # --- reverse a subsidy: the money is back, the burn-down follows -----------------------------------------------
    reversible = next(s for s in expected if not s["batch_id"])
    before = api("GET", "/fund").json()
    view.goto(f"/finance/decisions/{reversible['enrollment_id']}")
    view.page.fill("#reverse-reason", "ab")
    assert submit(view, "#reverse-submit") == 422
    assert view.page.locator("#reverse-form .field-error").is_visible()  # too short: 422, nothing reversed
    assert api("GET", f"/decisions/{reversible['enrollment_id']}").json()["status"] == "approved"
    view.page.fill("#reverse-reason", "trainee did not attend")
    assert submit(view, "#reverse-submit") == 303
    assert view.page.locator("#decision-status").get_attribute("data-status") == "reversed"
    after = api("GET", "/fund").json()
    assert after["approved_yuan"] == before["approved_yuan"] - reversible["amount_yuan"]
    view.goto("/finance")
    assert figure(view, "fund-approved") == yuan(after["approved_yuan"])
    # the read model hears of the reversal through its event; the open page redraws itself (live)
    view.page.wait_for_selector(f"#committed-now[data-yuan='{after['approved_yuan']}']", state="attached")
    assert burndown_committed(view) == after["approved_yuan"]

    # --- an institution's standing, and the operations page ------------------------------------------------------
    view.goto(f"/finance/institutions/{target}")
    assert view.page.locator("#standing").get_attribute("data-status") == "active"
    exports_match_the_page(view, "statement_totals")
    view.shoot("finance-institution")
    answer = view.page.goto(system.url + "/finance/operations")
    assert answer is not None and answer.status == 200, view.page.inner_text("main")
    dead = exports_match_the_page(view, "dead_letters")
    assert len(dead) - 1 == len(api("GET", "/dead-letters").json())
    parked = exports_match_the_page(view, "parked")
    assert len(parked) - 1 == len(api("GET", "/dead-letters/outbox/parked").json())
    view.shoot("finance-operations")
    assert problems(view, failed) == []

    # --- the same pages in English ---------------------------------------------------------------------------------
    english: Portal = as_role("finance", "en")
    english_failed = watch(english)
    for path, name in (
        ("/finance", "finance-fund"),
        (f"/finance/subsidies?institution_id={institution}&status=approved", "finance-subsidies"),
        (f"/finance/decisions/{reversible['enrollment_id']}", "finance-decision"),
        (f"/finance/batches?batch={batch_id}", "finance-batches"),
        (f"/finance/institutions/{target}", "finance-institution"),
        ("/finance/operations", "finance-operations"),
    ):
        english.goto(path)
        assert english.page.locator("html").get_attribute("lang") == "en"
        english.shoot(name)
    assert english.page.locator("h1").inner_text() == "Funding: dead letters and parked events"
    assert problems(english, english_failed) == []
