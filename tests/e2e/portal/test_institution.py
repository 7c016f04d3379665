"""A training institution's pages in a real browser, after a simulated cohort: its numbers equal enrollment's and
funding's APIs and the read model, it uploads a cohort (one row refused) and its completions through the form,
the Bureau's progress counts the new enrolments, every export holds what the page shows, and the statement PDF
holds the institution's name and totals. Screenshots of every page in Chinese and English."""

import csv
import io
from collections import Counter
from typing import Any

import pytest
from playwright.sync_api import FilePayload
from pypdf import PdfReader

from tests.support.people import id_number
from tests.support.portal import PlanSystem, Portal, csv_rows, xlsx_rows

TIERS = ("basic", "professional", "senior")
DECIDED_APPROVED = ("approved", "paid", "reversed")  # funding's statuses of an approved claim


def _pages(system: PlanSystem, service: str, path: str, role: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    offset: str | None = "0"
    while offset is not None:
        answer = system.call(service, "GET", path, role, params={**params, "limit": 1000, "offset": offset})
        assert answer.status_code == 200, answer.text
        rows += answer.json()
        offset = answer.headers.get("X-Next-Offset")
    return rows


def _cells(view: Portal, table_id: str) -> list[list[str]]:
    return view.page.eval_on_selector_all(  # type: ignore[no-any-return]
        f"#table-{table_id} tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )


def _header(view: Portal, table_id: str) -> list[str]:
    return view.page.eval_on_selector_all(  # type: ignore[no-any-return]
        f"#table-{table_id} thead th", "cells => cells.map(c => c.innerText.trim())"
    )


def _same(shown: str, exported: Any) -> bool:
    """A cell on the page and the same cell in a download (numbers unformatted, empty as "—")."""
    value = "" if exported is None else str(exported)
    page = "" if shown == "—" else shown
    numeric = page.replace(",", "").replace("¥", "")
    if numeric.lstrip("-").isdigit():
        page = numeric
    return page == value or (len(page) == 16 and value.replace("T", " ").startswith(page))


def _check_exports(view: Portal, table_id: str) -> list[list[str]]:
    """Both downloads of a table hold its header and every row the page shows."""
    shown, header = _cells(view, table_id), _header(view, table_id)
    empty = len(shown) == 1 and len(shown[0]) == 1  # the "nothing yet" row
    name, data = view.download(f"#dl-{table_id}-csv")
    assert name.startswith(table_id) and name.endswith(".csv")
    rows = csv_rows(data)
    assert rows[0] == header
    name, data = view.download(f"#dl-{table_id}-xlsx")
    assert name.endswith(".xlsx")
    sheet = xlsx_rows(data)
    assert [str(c) for c in sheet[0]] == header
    if empty:
        assert rows[1:] == [] and sheet[1:] == []
        return []
    assert len(rows) - 1 == len(shown) == len(sheet) - 1, table_id
    for page_row, csv_row, xlsx_row in zip(shown, rows[1:], sheet[1:], strict=True):
        assert all(_same(p, c) for p, c in zip(page_row, csv_row, strict=True)), (page_row, csv_row)
        assert all(_same(p, c) for p, c in zip(page_row, xlsx_row, strict=True)), (page_row, xlsx_row)
    return shown


def _figure(view: Portal, name: str) -> str:
    return view.page.inner_text(f"#fig-{name}")


def _wait_figure(view: Portal, name: str, want: str) -> None:
    """The page follows the read model live: wait until the figure shows `want`."""
    view.page.wait_for_function(
        "([id, want]) => { const e = document.getElementById(id); return e && e.textContent.trim() === want; }",
        arg=[f"fig-{name}", want],
        timeout=90_000,
    )


def _refusals_only(view: Portal, *statuses: str) -> bool:
    """Nothing went wrong on the page but the refusals the test asked for (the browser logs each one)."""
    return all("Failed to load resource" in e and any(f"status of {s}" in e for s in statuses) for e in view.clean())


def _by_tier(enrolments: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for tier in TIERS:
        mine = [e for e in enrolments if e["tier"] == tier]
        done = [e for e in mine if e["status"] == "completed"]
        counts[tier] = {
            "enrolled": len(mine),
            "open": sum(e["status"] == "open" for e in mine),
            "passed": sum(bool(e["passed"]) for e in done),
            "failed": sum(e["passed"] is False for e in done),
            "withdrawn": sum(e["status"] == "withdrawn" for e in mine),
        }
    return counts


def _upload(view: Portal, kind: str, name: str, data: bytes, confirm: bool = True) -> int:
    view.goto("/institution/uploads")
    view.page.select_option("#kind", kind)
    if confirm and kind == "withdrawals":
        view.page.check("#confirm_withdrawals")
    payload: FilePayload = {"name": name, "mimeType": "text/csv", "buffer": data}
    view.page.set_input_files("#file", files=[payload])
    with view.page.expect_response(
        lambda r: r.url.endswith("/institution/uploads") and r.request.method == "POST"
    ) as answer:
        view.page.click("#upload-submit")
    view.page.wait_for_load_state("load")
    return answer.value.status


def _csv(header: list[str], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def institution(system: PlanSystem, as_role: Any) -> Portal:
    """The system is started before the browser (Playwright's sync API runs an event loop of its own, and the
    system's set-up uses asyncio.run)."""
    view: Portal = as_role("institution")
    assert view.page.url == system.url + "/institution", view.page.inner_text("main")
    return view


def test_the_overview_equals_enrollments_list_and_funding_and_its_statement_holds_the_totals(
    system: PlanSystem, institution: Portal
) -> None:
    view = institution
    assert view.page.url == system.url + "/institution"
    own = system.call("enrollment", "GET", "/institution", "institution").json()
    assert own["name"].startswith(system.institution_name)  # the simulator adds the run's mark
    assert view.page.inner_text("#institution-name") == own["name"]
    assert view.page.get_attribute("#standing-badge", "data-status") == own["status"]
    enrolments = _pages(system, "enrollment", "/enrollments", "institution")
    expected = _by_tier(enrolments)
    total = {k: sum(t[k] for t in expected.values()) for k in expected["basic"]}
    assert _figure(view, "enrolled") == f"{total['enrolled']:,}"
    assert _figure(view, "open") == f"{total['open']:,}"
    assert _figure(view, "passed") == f"{total['passed']:,}"
    assert _figure(view, "withdrawn") == f"{total['withdrawn']:,}"
    shown = _check_exports(view, "tiers")
    assert len(shown) == 4  # three tiers and the total
    for row, tier in zip(shown, (*TIERS, None), strict=True):
        counts = expected[tier] if tier else total
        numbers = [int(c.replace(",", "")) for c in row[1:6]]
        assert numbers == [counts[k] for k in ("enrolled", "open", "passed", "failed", "withdrawn")], (tier, row)
    # subsidy decisions: the read model's, equal to funding's own (asked with the finance office's key)
    subsidies = _pages(system, "funding", "/subsidies", "finance", institution_id=system.institution_id)
    rejected = [s for s in subsidies if s["status"] == "rejected"]
    approved = [s for s in subsidies if s["status"] in DECIDED_APPROVED]
    approved_yuan = sum(s["amount_yuan"] for s in approved)
    assert _figure(view, "approved-yuan") == f"¥{approved_yuan:,}"
    assert _figure(view, "rejected") == f"{len(rejected):,}"
    decisions = [r for r in _check_exports(view, "decisions") if len(r) > 1]
    reversed_ = [s for s in subsidies if s["status"] == "reversed"]
    # every decision once, and each reversal once more on its own row
    assert sum(int(r[3]) for r in decisions) == len(approved) + len(rejected) + len(reversed_)
    assert sum(int(r[4].replace("¥", "").replace(",", "")) for r in decisions) == approved_yuan + sum(
        s["amount_yuan"] for s in reversed_
    )
    view.page.wait_for_selector("#chart-tiers svg")
    view.page.wait_for_selector("#chart-decisions svg")
    view.shoot("institution-overview")

    # the statement, in English (its text is extracted more reliably than CJK glyphs)
    view.switch_language("en")
    assert view.page.inner_text("#standing-badge") in ("Active", "Suspended")
    view.shoot("institution-overview")
    name, data = view.download("#statement-pdf")
    assert name.endswith(".pdf") and data.startswith(b"%PDF")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert "Subsidy statement" in text
    assert own["name"] in text
    assert f"¥{approved_yuan:,}" in text
    assert "finance office only" in text.replace("\n", " ")
    reversed_yuan = sum(s["amount_yuan"] for s in subsidies if s["status"] == "reversed")
    assert f"¥{approved_yuan - reversed_yuan:,}" in text
    view.switch_language("zh")
    name, data = view.download("#statement-pdf")
    zh = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert own["name"] in zh and f"¥{approved_yuan:,}" in zh
    assert view.clean() == []


def test_enrolments_and_completions_are_enrollments_own_list_with_filters(
    system: PlanSystem, institution: Portal
) -> None:
    view = institution
    enrolments = _pages(system, "enrollment", "/enrollments", "institution")
    view.goto("/institution/enrolments")
    shown = _check_exports(view, "enrolments")
    assert [r[0] for r in shown] == [e["id"] for e in enrolments][:100]
    view.shoot("institution-enrolments")
    view.page.click("#status-tabs a:nth-child(3)")  # completed
    view.page.wait_for_load_state("load")
    assert "status=completed" in view.page.url
    completed = [e for e in enrolments if e["status"] == "completed"]
    shown = _check_exports(view, "enrolments")
    assert sorted(r[0] for r in shown) == sorted(e["id"] for e in completed)[: len(shown)]
    assert len(shown) == min(100, len(completed))
    view.page.click("#tier-tabs a:nth-child(2)")  # basic, status kept
    view.page.wait_for_load_state("load")
    assert "status=completed" in view.page.url and "tier=basic" in view.page.url
    shown = _cells(view, "enrolments")
    basic = [e["id"] for e in completed if e["tier"] == "basic"]
    assert sorted(r[0] for r in shown if len(r) > 1) == sorted(basic)
    view.shoot("institution-completions")
    view.switch_language("en")
    view.shoot("institution-completions")
    view.goto("/institution/enrolments")
    view.shoot("institution-enrolments")
    assert view.clean() == []
    answer = view.page.goto(system.url + "/institution/enrolments?status=lost")
    assert answer is not None and answer.status == 422
    assert view.page.locator("#error-page").get_attribute("data-code") == "invalid_filter"
    assert _refusals_only(view, "422")


def test_subsidy_decisions_equal_fundings(system: PlanSystem, institution: Portal) -> None:
    view = institution
    subsidies = _pages(system, "funding", "/subsidies", "finance", institution_id=system.institution_id)
    decided = {s["enrollment_id"]: s for s in subsidies if s["status"] in (*DECIDED_APPROVED, "rejected")}
    view.goto("/institution/subsidies")
    shown = _check_exports(view, "subsidies")
    rows = [r for r in shown if len(r) > 1]
    assert sorted(r[0] for r in rows) == sorted(decided)
    for row in rows:
        funding = decided[row[0]]
        assert row[3].replace("¥", "").replace(",", "") == str(funding["amount_yuan"])
    view.shoot("institution-subsidies")
    view.page.click("#status-tabs a:nth-child(3)")  # rejected
    view.page.wait_for_load_state("load")
    rejected = [s for s in decided.values() if s["status"] == "rejected"]
    assert len([r for r in _cells(view, "subsidies") if len(r) > 1]) == len(rejected)
    view.switch_language("en")
    view.goto("/institution/subsidies")
    view.shoot("institution-subsidies")
    assert view.clean() == []


def test_a_cohort_then_its_completions_uploaded_through_the_form(system: PlanSystem, institution: Portal) -> None:
    view = institution
    own = system.call("enrollment", "GET", "/institution", "institution").json()
    mode = "online" if own["mode"] == "online" else "offline"
    before = _by_tier(_pages(system, "enrollment", "/enrollments", "institution"))
    progress_before = system.call("enrollment", "GET", "/progress", "bureau").json()
    view.goto("/institution")
    enrolled_before = sum(t["enrolled"] for t in before.values())
    passed_before = sum(t["passed"] for t in before.values())
    _wait_figure(view, "enrolled", f"{enrolled_before:,}")

    people = [id_number("19990101") for _ in range(3)]
    broken = id_number("19990202")
    broken = broken[:17] + ("0" if broken[17] != "0" else "1")  # a mistyped check digit
    header = ["id_number", "name", "phone", "target_group", "tier", "mode", "starts_on", "niche"]

    def row(number: str, name: str) -> dict[str, str]:
        return {
            "id_number": number, "name": name, "phone": "13800138000", "target_group": "rural_household",
            "tier": "basic", "mode": mode, "starts_on": "2021-03-01", "niche": "Zhengding pears",
        }  # fmt: skip

    cohort = _csv(
        header, [row(people[0], "Liu Jiaqi"), row(broken, "Wang Bao"), *(row(p, "Zhao Na") for p in people[1:])]
    )
    # the page's own template has the header enrollment reads
    view.goto("/institution/uploads")
    _, template = view.download("#template-cohort")
    assert csv_rows(template)[0] == header

    assert _upload(view, "cohort", "cohort-e2e.csv", cohort) == 303
    assert "/institution/uploads/" in view.page.url
    upload_url = view.page.url.split("?")[0]
    assert view.page.locator("#flash").is_visible()
    assert _figure(view, "rows") == "4" and _figure(view, "accepted") == "3" and _figure(view, "refused") == "1"
    results = _check_exports(view, "results")
    assert [r[0] for r in results] == ["1", "2", "3", "4"]
    accepted = [r for r in results if r[2] != "—"]
    refused = [r for r in results if r[2] == "—"]
    assert [r[0] for r in accepted] == ["1", "3", "4"] and [r[0] for r in refused] == ["2"]
    assert refused[0][1] == "已拒绝" and accepted[0][1] == "已接受"
    assert refused[0][3] not in ("", "—") and refused[0][4] == "id_number" and refused[0][5] not in ("", "—")
    new_ids = {r[2] for r in accepted}
    listed = {e["id"] for e in _pages(system, "enrollment", "/enrollments", "institution")}
    assert new_ids <= listed
    view.shoot("institution-upload-results")
    view.switch_language("en")
    assert _cells(view, "results")[1][1] == "Refused"
    view.shoot("institution-upload-results")
    view.switch_language("zh")

    # the same file again: enrollment answers as the first time, nothing new
    assert _upload(view, "cohort", "cohort-e2e.csv", cohort) == 303
    assert view.page.locator("#replayed-note").is_visible()
    assert [r[:3] for r in _cells(view, "results")] == [r[:3] for r in results]

    assert view.clean() == []
    # refused uploads: a spreadsheet, an empty file (4xx, the form again, nothing saved)
    assert _upload(view, "cohort", "cohort.xlsx", b"PK\x03\x04") == 422
    assert view.page.locator(".field-error").is_visible()
    assert _upload(view, "cohort", "empty.csv", b"") == 422
    assert view.page.inner_text(".field-error") == "文件为空。"
    view.shoot("institution-upload-refused")
    view.switch_language("en")
    assert _upload(view, "cohort", "empty.csv", b"") == 422
    assert view.page.inner_text(".field-error") == "The file is empty."
    view.shoot("institution-upload-refused")
    view.switch_language("zh")

    # the Bureau counts them (enrollment's progress, by institution)
    progress = system.call("enrollment", "GET", "/progress", "bureau").json()

    def basic_of(report: dict[str, Any]) -> int:
        entries = [
            e for e in report["by_institution"] if e["institution_id"] == system.institution_id and e["tier"] == "basic"
        ]
        return sum(int(e["enrolled"]) for e in entries)

    assert basic_of(progress) == basic_of(progress_before) + 3
    assert progress["tiers"]["basic"]["enrolled"] == progress_before["tiers"]["basic"]["enrolled"] + 3
    # and the overview follows, live, once the events reach the read model
    view.goto("/institution")
    _wait_figure(view, "enrolled", f"{enrolled_before + 3:,}")

    # completions: the page's template lists the open enrolments; three filled in and sent
    view.goto("/institution/uploads")
    _, template = view.download("#template-completions")
    lines = csv_rows(template)
    assert lines[0] == ["enrollment_id", "completed_on", "passed", "outcome"]
    assert new_ids <= {line[0] for line in lines[1:]}
    done = _csv(
        lines[0],
        [
            {"enrollment_id": i, "completed_on": "2021-03-20", "passed": "true", "outcome": "employed"}
            for i in sorted(new_ids)
        ],
    )
    assert _upload(view, "completions", "done.csv", done) == 303
    assert _figure(view, "accepted") == "3" and _figure(view, "refused") == "0"
    _check_exports(view, "results")
    view.goto("/institution/uploads")
    past = _check_exports(view, "uploads")
    assert len(past) == 3  # the cohort, its replay and the completions
    assert view.page.locator(f'#table-uploads a[href="{upload_url.removeprefix(system.url)}"]').count() == 1
    view.shoot("institution-uploads")
    view.switch_language("en")
    view.shoot("institution-uploads")
    view.switch_language("zh")
    completed = {e["id"] for e in _pages(system, "enrollment", "/enrollments", "institution", status="completed")}
    assert new_ids <= completed
    view.goto("/institution")
    _wait_figure(view, "passed", f"{passed_before + 3:,}")
    # another institution's upload page, or one that never was, is not there
    answer = view.page.goto(system.url + "/institution/uploads/00000000-0000-0000-0000-000000000000")
    assert answer is not None and answer.status == 404
    assert _refusals_only(view, "422", "404")


def test_one_enrolment_is_completed_or_withdrawn_on_its_own_page(system: PlanSystem, institution: Portal) -> None:
    view = institution
    own = system.call("enrollment", "GET", "/institution", "institution").json()
    mode = "online" if own["mode"] == "online" else "offline"
    before = _by_tier(_pages(system, "enrollment", "/enrollments", "institution"))
    header = ["id_number", "name", "phone", "target_group", "tier", "mode", "starts_on"]
    walk_ins = [
        {"id_number": id_number("19950505"), "name": name, "phone": "13900139000", "target_group": "unemployed",
         "tier": "basic", "mode": mode, "starts_on": "2021-03-01"}
        for name in ("Sun Wei", "Hu Fang")
    ]  # fmt: skip
    assert _upload(view, "cohort", "walk-ins.csv", _csv(header, walk_ins)) == 303
    first, second = (r[2] for r in _cells(view, "results"))

    # from the list to the enrolment's own page
    view.goto("/institution/enrolments?status=open")
    view.page.click(f'#table-enrolments a[href="/institution/enrolments/{first}"]')
    view.page.wait_for_load_state("load")
    assert view.page.url == system.url + f"/institution/enrolments/{first}"
    assert view.page.get_attribute("#enrolment-facts", "data-status") == "open"
    view.shoot("institution-enrolment")

    def send(button: str) -> int:
        with view.page.expect_response(lambda r: r.request.method == "POST") as answer:
            view.page.click(button)
        view.page.wait_for_load_state("load")
        return answer.value.status

    # a course cannot end before it started: enrollment refuses, the page says why and nothing changes
    view.page.fill("#completed_on", "2021-02-01")
    view.page.select_option("#passed", "yes")
    status = send("#completion-submit")
    assert 400 <= status < 500 and view.page.locator("#flash.error").is_visible()
    refusal = system.call("enrollment", "GET", f"/enrollments/{first}", "institution").json()
    assert refusal["status"] == "open"
    assert view.page.input_value("#completed_on") == "2021-02-01"  # what was typed is still there
    view.shoot("institution-enrolment-refused")
    view.switch_language("en")
    view.page.fill("#completed_on", "2021-02-01")
    assert 400 <= send("#completion-submit") < 500
    view.shoot("institution-enrolment-refused")
    view.switch_language("zh")
    view.page.fill("#completed_on", "2021-03-20")
    view.page.select_option("#passed", "yes")
    assert send("#completion-submit") == 303
    assert view.page.locator("#flash.ok").is_visible()
    assert view.page.get_attribute("#enrolment-facts", "data-status") == "completed"
    view.page.select_option("#outcome", "own_business")
    assert send("#outcome-submit") == 303
    found = system.call("enrollment", "GET", f"/enrollments/{first}", "institution").json()
    assert found["status"] == "completed" and found["passed"] is True and found["outcome"] == "own_business"
    assert view.page.locator("#enrolment-outcome").is_visible()
    view.switch_language("en")
    view.shoot("institution-enrolment")
    view.switch_language("zh")

    view.goto(f"/institution/enrolments/{second}")
    view.page.fill("#reason", "found a job in Beijing")
    view.page.once("dialog", lambda dialog: dialog.accept())  # "withdraw this trainee?"
    assert send("#withdrawal-submit") == 303
    found = system.call("enrollment", "GET", f"/enrollments/{second}", "institution").json()
    assert found["status"] == "withdrawn" and found["withdrawn_reason"] == "found a job in Beijing"
    assert view.page.get_attribute("#enrolment-facts", "data-status") == "withdrawn"

    # the overview follows once the events reach the read model
    view.goto("/institution")
    total = {k: sum(t[k] for t in before.values()) for k in before["basic"]}
    _wait_figure(view, "enrolled", f"{total['enrolled'] + 2:,}")
    _wait_figure(view, "passed", f"{total['passed'] + 1:,}")
    _wait_figure(view, "withdrawn", f"{total['withdrawn'] + 1:,}")
    assert _refusals_only(view, "400", "409", "422")


def test_withdrawals_uploaded_through_the_form(system: PlanSystem, institution: Portal) -> None:
    """The withdrawals template lists the open enrolments; good rows are withdrawn with their reason, a bad one is
    refused naming its field, another institution's enrolment is not found, and the same file again changes
    nothing."""
    view = institution
    own = system.call("enrollment", "GET", "/institution", "institution").json()
    mode = "online" if own["mode"] == "online" else "offline"
    header = ["id_number", "name", "phone", "target_group", "tier", "mode", "starts_on"]
    people = [
        {"id_number": id_number("19960606"), "name": name, "phone": "13700137000", "target_group": "other",
         "tier": "basic", "mode": mode, "starts_on": "2021-04-01"}
        for name in ("Ma Li", "Gao Yan", "Luo Jun")
    ]  # fmt: skip
    assert _upload(view, "cohort", "leavers.csv", _csv(header, people)) == 303
    ids = [r[2] for r in _cells(view, "results")]
    before = _by_tier(_pages(system, "enrollment", "/enrollments", "institution"))

    view.goto("/institution/uploads")
    name, template = view.download("#template-withdrawals")
    assert name == "withdrawals-template.csv"
    lines = csv_rows(template)
    assert lines[0] == ["enrollment_id", "reason"]
    assert set(ids) <= {line[0] for line in lines[1:]}
    stranger = "00000000-0000-4000-8000-000000000001"  # no enrolment of this institution
    rows = [
        {"enrollment_id": ids[0], "reason": "moved to Shijiazhuang"},
        {"enrollment_id": ids[1], "reason": "no"},  # too short: refused, naming the field
        {"enrollment_id": ids[2], "reason": "found a job"},
        {"enrollment_id": stranger, "reason": "not ours"},
    ]
    leaving = _csv(lines[0], rows)
    # not confirmed: refused, naming the box, and nothing withdrawn (a filled-down reason would withdraw everyone)
    assert _upload(view, "withdrawals", "leavers-out.csv", leaving, confirm=False) == 422
    assert view.page.inner_text(".field-error") == "请勾选确认框以确认退训：退训一经办理不可撤销。"
    assert view.page.input_value("#kind") == "withdrawals"  # the form keeps what the clerk had chosen
    view.shoot("institution-withdrawal-unconfirmed")
    assert {system.call("enrollment", "GET", f"/enrollments/{i}", "institution").json()["status"] for i in ids} == {
        "open"
    }
    assert _upload(view, "withdrawals", "leavers-out.csv", leaving) == 303
    assert "/institution/uploads/" in view.page.url
    assert _figure(view, "rows") == "4" and _figure(view, "accepted") == "2" and _figure(view, "refused") == "2"
    results = _check_exports(view, "results")
    assert [r[0] for r in results] == ["1", "2", "3", "4"]
    assert [r[1] for r in results] == ["已接受", "已拒绝", "已接受", "已拒绝"]
    assert results[1][4] == "reason"
    view.shoot("institution-withdrawal-upload")
    view.switch_language("en")
    assert [r[1] for r in _cells(view, "results")] == ["Accepted", "Refused", "Accepted", "Refused"]
    view.shoot("institution-withdrawal-upload")
    view.switch_language("zh")

    found = {i: system.call("enrollment", "GET", f"/enrollments/{i}", "institution").json() for i in ids}
    assert found[ids[0]]["status"] == "withdrawn" and found[ids[0]]["withdrawn_reason"] == "moved to Shijiazhuang"
    assert found[ids[1]]["status"] == "open"
    assert found[ids[2]]["status"] == "withdrawn" and found[ids[2]]["withdrawn_reason"] == "found a job"

    # the same file again: the first answer, nothing new
    assert _upload(view, "withdrawals", "leavers-out.csv", leaving) == 303
    assert view.page.locator("#replayed-note").is_visible()
    assert [r[:2] for r in _cells(view, "results")] == [r[:2] for r in results]
    view.goto("/institution/uploads")
    kinds = [r[1] for r in _cells(view, "uploads")]
    assert kinds[:2] == ["退训名单（中途退出的学员）"] * 2  # newest first

    # the overview follows once the events reach the read model
    view.goto("/institution")
    total = {k: sum(t[k] for t in before.values()) for k in before["basic"]}
    _wait_figure(view, "withdrawn", f"{total['withdrawn'] + 2:,}")
    _wait_figure(view, "open", f"{total['open'] - 2:,}")
    assert _refusals_only(view, "422")


def test_other_roles_and_visitors_get_no_institution_page(system: PlanSystem, as_role: Any) -> None:
    visitor = as_role(None)
    visitor.goto("/institution/uploads")
    assert visitor.page.url.startswith(system.url + "/login?next=")
    finance = as_role("finance")
    answer = finance.page.goto(system.url + "/institution/statement.pdf")
    assert answer is not None and answer.status == 403
    counts = Counter(e["status"] for e in _pages(system, "enrollment", "/enrollments", "institution"))
    assert sum(counts.values()) > 0
