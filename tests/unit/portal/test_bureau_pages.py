"""The Bureau's pages rendered from made-up answers (no services): every table, chart and figure is there, the
numbers are the API's, the templates hold no inline script or style, and the monthly report is a PDF."""

import io
import re
import uuid
from datetime import date
from typing import Any

import pytest
from pypdf import PdfReader
from starlette.requests import Request

from portal import i18n
from portal.pages import bureau
from portal.pdf import document
from portal.settings import DEBIAN_CJK_FONT
from portal.web import Ctx, Viewer, page

INSTITUTIONS = [
    {"id": str(uuid.UUID(int=1)), "name": "石家庄直播学院", "mode": "both", "status": "active",
     "status_seq": 0, "created_at": "2020-01-02T08:00:00+00:00"},
    {"id": str(uuid.UUID(int=2)), "name": "Hebei Live School", "mode": "online", "status": "suspended",
     "status_seq": 1, "created_at": "2020-02-02T08:00:00+00:00"},
]  # fmt: skip


def tier(enrolled: int, completed: int, targets: dict[str, int]) -> dict[str, Any]:
    return {
        "enrolled": enrolled, "open": enrolled - completed - 1, "completed": completed, "failed": 1, "withdrawn": 0,
        "employed": completed // 2, "own_business": completed // 4, "completion_rate": round(completed / enrolled, 4),
        "employment_rate": 0.5, "own_business_rate": 0.25, "targets": targets, "plan_progress": 0.001,
    }  # fmt: skip


PROGRESS = {
    "policy_version": "2020-08-v2",
    "tiers": {
        "basic": tier(100, 60, {"plan": 100_000, "2020": 20_000, "2021": 80_000}),
        "professional": tier(20, 10, {"plan": 10_000, "2020": 2_000, "2021": 8_000}),
        "senior": tier(5, 2, {"plan": 200, "2020": 50, "2021": 150}),
    },
    "by_start_year": [],
    "by_completion_year": [
        {"tier": "basic", "completion_year": 2020, "completed": 40, "target": 20_000},
        {"tier": "basic", "completion_year": 2021, "completed": 20, "target": 80_000},
    ],
    "by_target_group": [
        {"tier": "basic", "target_group": "unemployed", "enrolled": 60, "completed": 40, "completion_rate": 0.6667,
         "employment_rate": 0.5, "own_business_rate": 0.1},
        {"tier": "basic", "target_group": "college_graduate", "enrolled": 40, "completed": 20,
         "completion_rate": 0.5, "employment_rate": 0.5, "own_business_rate": 0.1},
    ],
    "by_institution": [
        {"tier": "basic", "institution_id": str(uuid.UUID(int=1)), "enrolled": 70, "completed": 50, "employed": 25,
         "own_business": 10},
        {"tier": "basic", "institution_id": str(uuid.UUID(int=2)), "enrolled": 30, "completed": 10, "employed": 5,
         "own_business": 2},
    ],
}  # fmt: skip


def month_rows(value: str, months: dict[str, int]) -> list[dict[str, Any]]:
    rows = []
    for key, n in months.items():
        row = dict.fromkeys(("enrolled", "open", "completed", "failed", "withdrawn", "employed", "own_business"), 0)
        rows.append({**row, "tier": "basic", "key": key, value: n})
    return rows


DATA = {
    "progress": PROGRESS,
    "institutions": INSTITUTIONS,
    "starts": month_rows("enrolled", {"2020-10-01": 60, "2021-01-01": 40}),
    "completions": month_rows("completed", {"2020-11-01": 40, "2021-02-01": 20}),
    "now": date(2021, 2, 20),
}


def request(path: str, query: str = "") -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": path, "query_string": query.encode(), "headers": [],
         "scheme": "http", "server": ("test", 80), "portal.csrf": "csrf-token"}
    )  # fmt: skip


VIEWER = Viewer("bureau", "key", "csrf-token", b"hash")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_progress_page_shows_the_apis_numbers_and_every_chart(lang: str) -> None:
    token = i18n.LANG.set(lang)
    try:
        tables, charts, extra = bureau._progress_page(DATA)
        html = page(request("/bureau"), "bureau/progress.html", VIEWER, Ctx(tables, charts, extra)).body.decode()
    finally:
        i18n.LANG.reset(token)
    for table_id in ("tiers", "targets", "months", "groups", "league"):
        assert f'id="table-{table_id}"' in html and f'id="dl-{table_id}-xlsx"' in html
    for chart in ("targets", "groups", "completions", "enrolments", "cumulative-basic", "cumulative-senior"):
        assert f'id="chart-{chart}"' in html
    tiers = {t.id: t for t in tables}["tiers"]
    assert [r["completed"] for r in tiers.rows] == [60, 10, 2]
    targets = {t.id: t for t in tables}["targets"].rows
    basic_2020 = next(r for r in targets if r["tier"] == "basic" and r["which"] == "2020")
    assert basic_2020["completed"] == 40 and basic_2020["status"] == "missed"  # now is 2021: the year is over
    basic_plan = next(r for r in targets if r["tier"] == "basic" and r["which"] == "plan")
    assert basic_plan["status"] == "not_at_this_rate"
    league = {t.id: t for t in tables}["league"].rows
    assert [(r["name"], r["completed"], r["status"]) for r in league] == [
        ("石家庄直播学院", 50, "active"), ("Hebei Live School", 10, "suspended"),
    ]  # fmt: skip
    assert 'id="fig-now"' in html and "2021-02-20" in html
    assert 'href="/bureau/report.pdf?month=2021-02" download id="report-download"' in html
    assert not re.search(r"<script>|\sstyle=|\son[a-z]+=", html)


def test_the_institutions_page_has_every_form_with_its_token() -> None:
    response = bureau._institutions_table(INSTITUTIONS)
    html = page(
        request("/bureau/institutions"), "bureau/institutions.html", VIEWER,
        Ctx([response], extra={"request_id": "r", "institutions": response.rows, "modes": bureau.MODES,
                              "mode_labels": bureau.MODE_LABELS}),
        live=False, issued={"key": "inst_" + "a" * 32 + "_secret", "key_id": "a" * 32, "institution": "X"},
    ).body.decode()  # fmt: skip
    forms = re.findall(r"<form method=\"post\".*?</form>", html, re.S)
    assert len(forms) >= 2 + 2 * len(INSTITUTIONS)
    assert all('name="csrf" value="csrf-token"' in f for f in forms)
    assert f"/bureau/institutions/{INSTITUTIONS[1]['id']}/reinstatement" in html  # the suspended one
    assert f"/bureau/institutions/{INSTITUTIONS[0]['id']}/suspension" in html
    assert 'id="issued-key-id">' + "a" * 32 in html
    assert 'data-live-page="no"' in html and "data-live " not in html.split('id="block-institutions"')[1]


def test_the_monthly_report_is_a_pdf_with_the_months_numbers() -> None:
    # a requirement of the product (the PDFs embed it), installed by .ci/run and the Dockerfile: missing is a failure
    assert DEBIAN_CJK_FONT.exists(), "apt-get install fonts-wqy-microhei"
    rows = [
        {"tier": "basic", "target_group": "unemployed", "institution_id": uuid.UUID(int=1), "enrolled": 70,
         "completed": 50, "employed": 25, "own_business": 10, "completed_this_year": 20, "enrolled_in_month": 7,
         "completed_in_month": 13, "employed_in_month": 4, "own_business_in_month": 1},
    ]  # fmt: skip
    token = i18n.LANG.set("zh")
    try:
        sections = bureau._report_sections(date(2021, 2, 1), rows, PROGRESS, INSTITUTIONS)
        data = document("月度进展报告 2021-02", "test", sections, DEBIAN_CJK_FONT)
    finally:
        i18n.LANG.reset(token)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert "月度进展报告" in text and "石家庄直播学院" in text
    assert "13" in text and "80,000" in text  # completed in the month; the 2021 target


def test_the_progress_page_before_any_enrolment_says_there_is_no_data() -> None:
    empty_tier = {
        **dict.fromkeys(("enrolled", "open", "completed", "failed", "withdrawn", "employed", "own_business"), 0),
        "completion_rate": None, "employment_rate": None, "own_business_rate": None,
    }  # fmt: skip
    progress = {
        **PROGRESS,
        "tiers": {t: {**empty_tier, "targets": v["targets"]} for t, v in PROGRESS["tiers"].items()},  # type: ignore[attr-defined]
        "by_completion_year": [], "by_target_group": [], "by_institution": [],
    }  # fmt: skip
    data = {"progress": progress, "institutions": [], "starts": [], "completions": [], "now": None}
    tables, charts, extra = bureau._progress_page(data)
    html = page(request("/bureau"), "bureau/progress.html", VIEWER, Ctx(tables, charts, extra)).body.decode()
    targets = {t.id: t for t in tables}["targets"].rows
    assert {r["status"] for r in targets} == {"no_data"}
    assert 'id="report-download"' not in html and 'id="fig-now">—' in html
