"""The institution pages' pure helpers, and their templates rendered with made-up data (no service needed)."""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from starlette.requests import Request

from portal import i18n
from portal.pages import institution as ip
from portal.pages import public
from portal.tables import Column, Table
from portal.web import Chart, Ctx, Viewer, page


def test_a_file_is_csv_or_json_lines_by_its_name_or_first_character() -> None:
    assert ip.content_type_of("cohort.CSV", b"") == "text/csv"
    assert ip.content_type_of("rows.jsonl", b"") == "application/x-ndjson"
    assert ip.content_type_of("rows.ndjson", b"") == "application/x-ndjson"
    assert ip.content_type_of("export", b'\xef\xbb\xbf  {"id_number": 1}') == "application/x-ndjson"
    assert ip.content_type_of("export.txt", b"id_number,name\n") == "text/csv"
    assert ip.content_type_of("sheet.xlsx", b"id_number,name") is None  # a spreadsheet: saved as CSV first
    assert ip.content_type_of("blob", b"\x00\x01") is None


def test_a_gbk_csv_from_a_chinese_excel_is_sent_as_utf8() -> None:
    text = "id_number,name\n130102199808080014,刘佳琪\n"
    assert ip.as_utf8(text.encode("gb18030")) == text.encode("utf-8")
    assert ip.as_utf8(text.encode("utf-8")) == text.encode("utf-8")
    assert ip.as_utf8(b"\xef\xbb\xbfid_number\n") == b"\xef\xbb\xbfid_number\n"
    assert ip.as_utf8(text.encode("utf-16")) == text.encode("utf-8")  # Excel's "Unicode text"


def test_an_uploads_answer_is_kept_with_each_rows_result_and_shown_in_the_readers_language() -> None:
    answer = {
        "rows": 2,
        "accepted": 1,
        "rejected": 1,
        "results": [
            {"row": 1, "accepted": True, "enrollment_id": "e-1", "trainee_id": "tr-1", "error": None},
            {
                "row": 2, "accepted": False, "enrollment_id": None, "trainee_id": None,
                "error": {"code": "some_unknown_code", "field": "id_number", "message": "bad digit", "status": 422},
            },
        ],
    }  # fmt: skip
    summary = ip.upload_summary(answer, replayed=False)
    assert summary["refused"] == 1 and summary["accepted"] == 1 and not summary["replayed"]
    token = i18n.LANG.set("en")
    try:
        rows = ip.result_rows(summary)
    finally:
        i18n.LANG.reset(token)
    assert rows[0] == {
        "row": 1, "accepted": "Accepted", "enrollment_id": "e-1", "error": None, "field": None, "message": None,
    }  # fmt: skip
    assert rows[1]["accepted"] == "Refused" and rows[1]["field"] == "id_number"
    assert rows[1]["error"] == "bad digit"  # no translation of the code: the service's own message
    token = i18n.LANG.set("zh")
    try:
        assert ip.result_rows(summary)[1]["accepted"] == "已拒绝"
    finally:
        i18n.LANG.reset(token)


def test_counts_by_tier_have_every_tier_and_a_total() -> None:
    counts = [
        {"tier": "basic", "key": None, "enrolled": 10, "open": 2, "completed": 6, "failed": 1, "withdrawn": 1,
         "employed": 3, "own_business": 2},
    ]  # fmt: skip
    rows = ip.tier_rows(counts)
    assert [r["tier"] for r in rows] == ["basic", "professional", "senior", "total"]
    assert rows[1]["enrolled"] == 0 and rows[-1]["enrolled"] == 10 and rows[-1]["completed"] == 6


def test_decision_totals_count_approvals_refusals_by_reason_and_reversals() -> None:
    summary = [
        {"tier": "professional", "status": "approved", "reason": "", "count": 3, "yuan": 3000},
        {"tier": "professional", "status": "rejected", "reason": "duplicate_claim", "count": 1, "yuan": 0},
        {"tier": "senior", "status": "rejected", "reason": "duplicate_claim", "count": 2, "yuan": 0},
        {"tier": "senior", "status": "reversed", "reason": "", "count": 1, "yuan": 1000},
    ]
    totals = ip.decision_totals(summary)
    assert totals["approved"] == 3 and totals["approved_yuan"] == 3000
    assert totals["rejected"] == 3 and totals["by_reason"] == {"duplicate_claim": 3}
    assert totals["reversed_yuan"] == 1000 and totals["net_yuan"] == 2000


def test_a_template_csv_has_a_bom_the_header_and_the_rows_given() -> None:
    data = ip.template_csv(["enrollment_id", "passed"], [{"enrollment_id": "e-1"}])
    assert data == "\ufeffenrollment_id,passed\r\ne-1,\r\n".encode()


def test_a_filter_outside_its_values_is_a_422_naming_it() -> None:
    assert ip.chosen("", ("open",), "status") is None
    assert ip.chosen("open", ("open",), "status") == "open"
    with pytest.raises(ip.Refusal) as refused:
        ip.chosen("lost", ("open",), "status")
    assert refused.value.status == 422 and refused.value.field == "status"
    assert ip.offset_of("200") == 200
    for bad in ("-1", "x", "1e3", "9" * 12):
        with pytest.raises(ip.Refusal):
            ip.offset_of(bad)


# --- the templates, rendered with made-up data -------------------------------------------------------------------


def _request(path: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": [], "app": None})


VIEWER = Viewer("institution", "key", "csrf-token", b"h", uuid4(), "Cashmere Town Workshop")


def _render(path: str, template: str, ctx: Ctx, viewer: Viewer | None = VIEWER, **variables: Any) -> str:
    answer = page(_request(path), template, viewer, ctx, **variables)
    assert answer.status_code == 200
    return bytes(answer.body).decode()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_institution_template_renders(lang: str) -> None:
    token = i18n.LANG.set(lang)
    try:
        rows = ip.tier_rows([])
        totals = ip.decision_totals([])
        figures = [("Enrolled", "0", "enrolled")]
        html = _render(
            "/institution",
            "institution/overview.html",
            Ctx(
                tables=[ip._tier_table(rows), ip._decision_table([])],
                charts=[ip._tier_chart(rows), ip._decision_chart(totals)],
                extra={
                    "institution": {
                        "name": "Cashmere Town Workshop",
                        "status": "suspended",
                        "mode": "offline",
                        "created_at": "2026-11-26T10:00:00Z",
                    },
                    "mode_label": "offline",
                    "standing": {"reason": "audit"},
                    "figure_items": figures,
                },
            ),
        )
        assert 'id="suspended-note"' in html and 'id="dl-tiers-csv"' in html and "Cashmere Town Workshop" in html
        tabs = ip._filter_tabs("/institution/enrolments", "status", ip.ENROLMENT_STATUSES, "open", {"tier": "basic"})
        assert tabs[1][1] == "/institution/enrolments?tier=basic&status=open" and tabs[1][2]
        html = _render(
            "/institution/enrolments",
            "institution/enrolments.html",
            Ctx(
                tables=[Table("enrolments", "Enrolments", [Column("id", "Enrolment")], [])],
                extra={
                    "status_tabs": tabs,
                    "tier_tabs": tabs,
                    "first": 0,
                    "last": 0,
                    "previous": None,
                    "next": "/x?offset=100",
                    "status": None,
                },
            ),
        )
        assert 'id="pager-next"' in html
        html = _render(
            "/institution/subsidies",
            "institution/subsidies.html",
            Ctx(
                tables=[ip._decision_list([]), ip._decision_table([], "by-tier")],
                charts=[ip._decision_chart(totals)],
                extra={
                    "status_tabs": tabs,
                    "figure_items": figures,
                    "first": 0,
                    "last": 0,
                    "count": 0,
                    "previous": None,
                    "next": None,
                },
            ),
        )
        assert 'id="dl-by-tier-xlsx"' in html
        html = _render(
            "/institution/uploads",
            "institution/uploads.html",
            Ctx(
                tables=[Table("uploads", "Past uploads", [Column("file_name", "File")], [])],
                extra={"kinds": [(k, v[1], v[2]) for k, v in ip.UPLOAD_KINDS.items()]},
            ),
        )
        assert 'name="csrf" value="csrf-token"' in html and 'enctype="multipart/form-data"' in html
        html = _render(
            "/institution/uploads/x",
            "institution/upload.html",
            Ctx(
                tables=[Table("results", "Each row's result", [Column("row", "Row", "int")], [{"row": 1}])],
                extra={
                    "upload": {"file_name": "c.csv", "created_at": datetime.now(UTC)},
                    "kind_label": "cohort",
                    "figure_items": figures,
                    "replayed": True,
                },
            ),
        )
        assert 'id="replayed-note"' in html
    finally:
        i18n.LANG.reset(token)


@pytest.mark.parametrize("viewer", [None, VIEWER])
def test_the_open_data_template_renders_for_visitors_and_the_logged_in(viewer: Viewer | None) -> None:
    tiers = public.labelled(ip_tiers := [{"tier": "basic", "enrolled": "<5"}, {"tier": "total", "enrolled": 7}],
                            "tier", "All tiers", codes=True)  # fmt: skip
    assert ip_tiers and tiers[-1]["label"] == i18n.gettext("All tiers") and tiers[-1]["total"]
    table = public._table("by-tier", "By tier", "Tier", tiers, (("enrolled", "Enrolled"),))
    assert table.value(tiers[0], table.columns[1]) == "<5" and table.value(tiers[1], table.columns[1]) == 7
    assert table.display(tiers[1], table.columns[1]) == "7"
    chart = public._bars("chart-open-tiers", tiers, (("enrolled", "Enrolled"),))
    assert chart.option["series"][0]["data"] == [None]
    html = _render(
        "/open",
        "public/open.html",
        Ctx(
            tables=[table, public._table("by-target-group", "", "", [], ()), public._table("by-month", "", "", [], ())],
            charts=[chart, Chart("chart-open-groups", {}), Chart("chart-open-months", {})],
            extra={
                "figure_items": [("Enrolled", "7", "open-enrolled")],
                "updated": "2026-11-27 08:00:00",
                "threshold": 5,
            },
        ),
        viewer=viewer,
    )
    assert 'id="suppression"' in html and "&lt;5" in html
    assert ('href="/institution"' in html) == (viewer is not None)


def test_the_forms_on_one_enrolment_are_validated_with_the_field_named() -> None:
    body = ip.completion_body({"completed_on": "2021-03-20", "passed": "yes", "outcome": "employed"})
    assert body == {"completed_on": "2021-03-20", "passed": True, "outcome": "employed"}
    assert ip.completion_body({"completed_on": "2021-03-20", "passed": "no", "outcome": "employed"})["outcome"] is None
    for form, field in (
        ({"completed_on": "20/03/2021", "passed": "yes"}, "completed_on"),
        ({"completed_on": "2021-02-30", "passed": "yes"}, "completed_on"),
        ({"passed": "yes"}, "completed_on"),
        ({"completed_on": "2021-03-20", "passed": "maybe"}, "passed"),
        ({"completed_on": "2021-03-20", "passed": "yes", "outcome": "rich"}, "outcome"),
    ):
        with pytest.raises(ip.Refusal) as refused:
            ip.completion_body(form)
        assert refused.value.status == 422 and refused.value.field == field, form
    assert ip.outcome_body({"outcome": "seeking"}) == {"outcome": "seeking"}
    with pytest.raises(ip.Refusal):
        ip.outcome_body({})
    assert ip.withdrawal_body({"reason": "  found a job "}) == {"reason": "found a job"}
    for reason in ("", "no", "x" * 501, None):
        with pytest.raises(ip.Refusal):
            ip.withdrawal_body({"reason": reason})


@pytest.mark.parametrize("status", ["open", "completed", "withdrawn"])
def test_the_enrolment_page_offers_the_forms_its_status_allows(status: str) -> None:
    e = {
        "id": "e-1", "id_masked": "130102********0014", "tier": "basic", "target_group": "unemployed",
        "mode": "offline", "starts_on": "2021-03-01", "status": status, "niche": None,
        "completed_on": "2021-03-20" if status == "completed" else None,
        "passed": True if status == "completed" else None,
        "outcome": None, "withdrawn_reason": "moved away" if status == "withdrawn" else None,
    }  # fmt: skip
    html = _render(
        "/institution/enrolments/e-1",
        "institution/enrolment.html",
        Ctx(extra={"e": e, "labels": e, "outcome_label": None, "outcomes": [("employed", "employed")],
                   "created_at": datetime.now(UTC), "typed": {"reason": "moved <away>"}}),
    )  # fmt: skip
    assert ('id="completion-form"' in html) == (status == "open")
    assert ('id="withdrawal-form"' in html) == (status == "open")
    assert ('id="outcome-form"' in html) == (status == "completed")
    assert ('value="moved &lt;away&gt;"' in html) == (status == "open")  # what was typed, escaped
