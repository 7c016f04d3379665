"""A training institution's own pages: its overview and statement (PDF), its enrolments and completions, its
subsidy decisions, and uploads of a cohort, of completions or of withdrawals with each row's result.

Lists and uploads go through enrollment's API with the institution's own key (what it may see and do is what
its key opens); counts by tier and subsidy decisions come from the portal's read model, filtered to the
logged-in institution (the session's institution id, never a parameter)."""

import csv
import hashlib
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from portal.clients import Refusal
from portal.i18n import N_, error_message, gettext
from portal.pdf import Section, document
from portal.tables import Column, Table, translate_code
from portal.web import Chart, Ctx, Flash, Viewer, backend, checked_form, done, page, require, store_of

TIERS = ("basic", "professional", "senior")
ENROLMENT_STATUSES = ("open", "completed", "withdrawn")
DECISION_STATUSES = ("approved", "rejected")
OUTCOMES = ("employed", "own_business", "seeking")
PAGE_SIZE = 100
UPLOAD_KINDS = {
    # kind: (enrollment's route, the columns of its CSV, label)
    "cohort": (
        "/cohorts",
        ("id_number", "name", "phone", "target_group", "tier", "mode", "starts_on", "niche"),
        N_("A cohort (new enrolments)"),
    ),
    "completions": (
        "/completions",
        ("enrollment_id", "completed_on", "passed", "outcome"),
        N_("Completions (finished courses)"),
    ),
    "withdrawals": (
        "/withdrawals",
        ("enrollment_id", "reason"),
        N_("Withdrawals (trainees who left)"),
    ),
}
INSTITUTION = require("institution")  # the logged-in institution (a dependency)
CITY_TIME = ZoneInfo("Asia/Shanghai")  # times are shown as the city reads them
PALETTE = ["#1d4e89", "#1e7b34", "#b3261e", "#b7791f", "#6b7280", "#7c3aed"]


# --- pure helpers (tests/unit/portal/test_institution_*.py) ------------------------------------------------------


def content_type_of(file_name: str, data: bytes) -> str | None:
    """What enrollment is told the file is: CSV or JSON lines, by its name, else by its first character."""
    name = file_name.lower()
    if name.endswith(".csv"):
        return "text/csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "application/x-ndjson"
    if name.endswith((".xlsx", ".xls", ".et", ".ods")):
        return None
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"{":
        return "application/x-ndjson"
    if head and head.isascii() and head.isalpha():  # a header line such as id_number,name,...
        return "text/csv"
    return None


def as_utf8(data: bytes) -> bytes:
    """A file as UTF-8, which enrollment reads: Excel on a Chinese Windows saves "CSV" in GBK (GB18030); a UTF-16
    file (with its byte-order mark) is converted too."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030").encode("utf-8")
    except UnicodeDecodeError:
        return data  # enrollment says which rows it could not read


def upload_summary(answer: Mapping[str, Any], replayed: bool) -> dict[str, Any]:
    """What is kept of enrollment's answer to an upload (store.save_upload): its counts and each row's result."""
    return {
        "rows": int(answer.get("rows", 0)),
        "accepted": int(answer.get("accepted", 0)),
        "refused": int(answer.get("rejected", 0)),
        "replayed": replayed,
        "results": [
            {
                "row": r.get("row"),
                "accepted": bool(r.get("accepted")),
                "enrollment_id": r.get("enrollment_id"),
                "code": (r.get("error") or {}).get("code"),
                "field": (r.get("error") or {}).get("field"),
                "message": (r.get("error") or {}).get("message"),
            }
            for r in answer.get("results", [])
        ],
    }


def result_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An upload's rows as the results table shows them, each refusal in the reader's language."""
    return [
        {
            "row": r["row"],
            "accepted": gettext("Accepted") if r["accepted"] else gettext("Refused"),
            "enrollment_id": r.get("enrollment_id"),
            "error": error_message(r["code"], r.get("message") or "") if r.get("code") else None,
            "field": r.get("field"),
            "message": r.get("message"),
        }
        for r in summary.get("results", [])
    ]


def tier_rows(counts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """store.counts(institution_id=...) → a row per tier (all three) and a total row."""
    names = ("enrolled", "open", "completed", "failed", "withdrawn", "employed", "own_business")
    found = {tier: dict.fromkeys(names, 0) for tier in TIERS}
    for row in counts:
        for name in names:
            found[row["tier"]][name] += int(row[name])
    rows: list[dict[str, Any]] = [
        {"tier": tier, "label": translate_code(tier), **values} for tier, values in found.items()
    ]
    rows.append({"tier": "total", "label": gettext("Total"), **{n: sum(int(r[n]) for r in rows) for n in names}})
    return rows


def decision_totals(summary: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """store.decisions_summary(...) → approved (count, yuan), rejected (count, by reason), reversed (count,
    yuan) and what stands (approved less reversed)."""
    totals: dict[str, Any] = {
        "approved": 0,
        "approved_yuan": 0,
        "rejected": 0,
        "by_reason": {},
        "reversed": 0,
        "reversed_yuan": 0,
    }
    for row in summary:
        count, yuan = int(row["count"]), int(row["yuan"] or 0)
        if row["status"] == "approved":
            totals["approved"] += count
            totals["approved_yuan"] += yuan
        elif row["status"] == "rejected":
            totals["rejected"] += count
            reason = row["reason"] or "unknown"
            totals["by_reason"][reason] = totals["by_reason"].get(reason, 0) + count
        elif row["status"] == "reversed":
            totals["reversed"] += count
            totals["reversed_yuan"] += yuan
    totals["net_yuan"] = totals["approved_yuan"] - totals["reversed_yuan"]
    return totals


def template_csv(columns: Iterable[str], rows: Iterable[Mapping[str, Any]] = ()) -> bytes:
    """A CSV for the clerk to fill in: the header enrollment reads, and any rows given (UTF-8 with a BOM, which
    enrollment skips and Excel needs)."""
    out = io.StringIO()
    columns = list(columns)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def city_time(row: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """A row with its times in Beijing time (the pages say so)."""
    return {k: (v.astimezone(CITY_TIME) if k in names and isinstance(v, datetime) else v) for k, v in row.items()}


def form_date(value: object, field: str) -> str:
    """A date typed in a form (YYYY-MM-DD, as a date input sends it), else a 422 naming the field."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise Refusal(422, "invalid_field", gettext("Enter a date such as 2021-03-20:") + f" {field}", field)


def completion_body(form: Any) -> dict[str, Any]:
    passed = form.get("passed")
    if passed not in ("yes", "no"):
        raise Refusal(422, "invalid_field", gettext("Say whether the assessment was passed."), "passed")
    outcome = form.get("outcome") or None
    if outcome is not None and outcome not in OUTCOMES:
        raise Refusal(422, "invalid_field", gettext("Choose an outcome from the list."), "outcome")
    return {
        "completed_on": form_date(form.get("completed_on"), "completed_on"),
        "passed": passed == "yes",
        "outcome": outcome if passed == "yes" else None,
    }


def outcome_body(form: Any) -> dict[str, Any]:
    outcome = form.get("outcome")
    if outcome not in OUTCOMES:
        raise Refusal(422, "invalid_field", gettext("Choose an outcome from the list."), "outcome")
    return {"outcome": outcome}


def withdrawal_body(form: Any) -> dict[str, Any]:
    reason = form.get("reason")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not 3 <= len(reason) <= 500:
        raise Refusal(422, "invalid_field", gettext("Give the reason in 3 to 500 characters."), "reason")
    return {"reason": reason}


def chosen(value: str | None, allowed: Iterable[str], field: str) -> str | None:
    """A filter from the query string: empty is none; anything not allowed is a 422 naming the field."""
    if value in (None, ""):
        return None
    if value not in allowed:
        raise Refusal(422, "invalid_filter", gettext("This filter value is not valid:") + f" {field}", field)
    return value


def offset_of(value: str | None) -> int:
    if value in (None, ""):
        return 0
    if not value.isdigit() or len(value) > 9:
        raise Refusal(422, "invalid_filter", gettext("This filter value is not valid:") + " offset", "offset")
    return int(value)


# --- tables and charts ------------------------------------------------------------------------------------------


def _tier_table(rows: list[dict[str, Any]]) -> Table:
    return Table(
        "tiers",
        N_("Enrolments by tier"),
        [
            Column("label", N_("Tier")),
            Column("enrolled", N_("Enrolled"), "int"),
            Column("open", N_("In training"), "int"),
            Column("completed", N_("Passed"), "int"),
            Column("failed", N_("Failed"), "int"),
            Column("withdrawn", N_("Withdrawn"), "int"),
            Column("employed", N_("Employed"), "int"),
            Column("own_business", N_("Own business"), "int"),
        ],
        rows,
        note=N_("From the events of your enrolments; the list on the Enrolments page comes from the same records."),
    )


def _decision_table(summary: list[dict[str, Any]], table_id: str = "decisions") -> Table:
    return Table(
        table_id,
        N_("Subsidy decisions by tier"),
        [
            Column("tier", N_("Tier"), "code"),
            Column("status", N_("Decision"), "code"),
            Column("reason", N_("Reason"), "code"),
            Column("count", N_("Completions"), "int"),
            Column("yuan", N_("Amount"), "yuan"),
        ],
        [{**r, "reason": r["reason"] or None} for r in summary],
        empty=N_("No subsidy decision yet."),
        note=N_("Professional and senior completions are decided by funding; a reversal is listed on its own."),
    )


def _decision_list(rows: list[dict[str, Any]]) -> Table:
    return Table(
        "subsidies",
        N_("Subsidy decisions"),
        [
            Column("enrollment_id", N_("Enrolment")),
            Column("tier", N_("Tier"), "code"),
            Column("status", N_("Decision"), "code"),
            Column("amount_yuan", N_("Amount"), "yuan"),
            Column("reason", N_("Reason"), "code"),
            Column("policy_version", N_("Policy")),
            Column("decided_at", N_("Decided at (Beijing time)"), "datetime"),
            Column("reversed_at", N_("Reversed at (Beijing time)"), "datetime"),
            Column("reversal_reason", N_("Reason for the reversal")),
        ],
        [city_time(r, "decided_at", "reversed_at") for r in rows],
        empty=N_("No subsidy decision yet."),
    )


def _tier_chart(rows: list[dict[str, Any]]) -> Chart:
    tiers = [r for r in rows if r["tier"] != "total"]
    series = [
        ("open", N_("In training")),
        ("completed", N_("Passed")),
        ("failed", N_("Failed")),
        ("withdrawn", N_("Withdrawn")),
    ]
    return Chart(
        "chart-tiers",
        {
            "color": PALETTE,
            "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
            "legend": {"top": 0},
            "grid": {"left": 48, "right": 16, "top": 36, "bottom": 28},
            "xAxis": {"type": "category", "data": [translate_code(r["tier"]) for r in tiers]},
            "yAxis": {"type": "value", "minInterval": 1},
            "series": [
                {"name": gettext(label), "type": "bar", "stack": "all", "data": [r[key] for r in tiers]}
                for key, label in series
            ],
        },
        height=300,
    )


def _decision_chart(totals: Mapping[str, Any]) -> Chart:
    data = [{"name": gettext("Approved"), "value": totals["approved"]}]
    data += [{"name": translate_code(reason), "value": n} for reason, n in sorted(totals["by_reason"].items())]
    if totals["reversed"]:
        data.append({"name": gettext("Reversed"), "value": totals["reversed"]})
    return Chart(
        "chart-decisions",
        {
            "color": PALETTE,
            "tooltip": {"trigger": "item"},
            "legend": {"bottom": 0},
            "series": [
                {
                    "type": "pie",
                    "radius": ["40%", "68%"],
                    "center": ["50%", "45%"],
                    "data": data if totals["approved"] or totals["rejected"] else [],
                    "label": {"formatter": "{b}: {c}"},
                }
            ],
        },
        height=300,
    )


def _filter_tabs(path: str, name: str, values: Iterable[str], current: str | None, keep: dict[str, str | None]) -> Any:
    """Links for one filter (the other filters kept): [(label, href, here)]."""
    from urllib.parse import urlencode

    def href(value: str | None) -> str:
        params = {k: v for k, v in {**keep, name: value}.items() if v}
        return path + ("?" + urlencode(params) if params else "")

    tabs = [(gettext("All"), href(None), current is None)]
    tabs += [(translate_code(v), href(v), current == v) for v in values]
    return tabs


# --- the pages --------------------------------------------------------------------------------------------------


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/institution")
    async def overview(request: Request, viewer: Viewer = INSTITUTION) -> Response:
        institution = await backend(request).get("enrollment", "/institution", viewer.key)
        assert viewer.institution_id is not None
        async with store_of(request)() as store:
            counts = await store.counts(institution_id=viewer.institution_id)
            summary = await store.decisions_summary(viewer.institution_id)
            standing = (await store.standings()).get(viewer.institution_id)
        rows = tier_rows(counts)
        totals = decision_totals(summary)
        total = rows[-1]
        figures = [
            (gettext("Enrolled"), f"{total['enrolled']:,}", "enrolled"),
            (gettext("In training"), f"{total['open']:,}", "open"),
            (gettext("Passed"), f"{total['completed']:,}", "passed"),
            (gettext("Withdrawn"), f"{total['withdrawn']:,}", "withdrawn"),
            (gettext("Subsidies approved"), f"¥{totals['approved_yuan']:,}", "approved-yuan"),
            (gettext("Subsidy refusals"), f"{totals['rejected']:,}", "rejected"),
        ]
        return page(
            request,
            "institution/overview.html",
            viewer,
            Ctx(
                tables=[_tier_table(rows), _decision_table(summary)],
                charts=[_tier_chart(rows), _decision_chart(totals)],
                extra={
                    "institution": institution,
                    "mode_label": translate_code(institution["mode"]),
                    "standing": standing,
                    "figure_items": figures,
                },
            ),
        )

    @r.get("/institution/statement.pdf")
    async def statement(request: Request, viewer: Viewer = INSTITUTION) -> Response:
        assert viewer.institution_id is not None
        async with store_of(request)() as store:
            summary = await store.decisions_summary(viewer.institution_id)
            decisions = await store.institution_decisions(viewer.institution_id, None, 100_000, 0)
        totals = decision_totals(summary)
        figures = [
            (gettext("Institution"), viewer.institution_name or ""),
            (gettext("Institution id"), str(viewer.institution_id)),
            (gettext("Approved completions"), f"{totals['approved']:,}"),
            (gettext("Subsidies approved"), f"¥{totals['approved_yuan']:,}"),
            (gettext("Reversed"), f"{totals['reversed']:,} · ¥{totals['reversed_yuan']:,}"),
            (gettext("Standing (approved less reversed)"), f"¥{totals['net_yuan']:,}"),
            (gettext("Refused completions"), f"{totals['rejected']:,}"),
        ]
        figures += [
            (gettext("Refused:") + " " + translate_code(reason), f"{n:,}")
            for reason, n in sorted(totals["by_reason"].items())
        ]
        now = datetime.now(UTC)
        data = document(
            gettext("Subsidy statement"),
            f"{viewer.institution_name} · {now.astimezone(CITY_TIME):%Y-%m-%d %H:%M} " + gettext("(Beijing time)"),
            [
                Section(
                    gettext("Totals"),
                    figures=figures,
                    paragraphs=[
                        gettext(
                            "This statement is drawn from the portal's record of funding's decisions, kept from "
                            "the plan's events; funding's own statement is issued to the finance office only. "
                            "Amounts in yuan."
                        )
                    ],
                ),
                Section(gettext("Decisions by tier"), table=_decision_table(summary)),
                Section(gettext("Every decision"), table=_decision_list(decisions)),
            ],
            request.app.state.settings.pdf_font,
        )
        name = f"statement-{viewer.institution_id}-{now:%Y%m%d}.pdf"
        return Response(
            data, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    @r.get("/institution/enrolments")
    async def enrolments(request: Request, viewer: Viewer = INSTITUTION) -> Response:
        query = request.query_params
        status = chosen(query.get("status"), ENROLMENT_STATUSES, "status")
        tier = chosen(query.get("tier"), TIERS, "tier")
        offset = offset_of(query.get("offset"))
        answer = await backend(request).call(
            "enrollment",
            "GET",
            "/enrollments",
            viewer.key,
            params={"status": status, "tier": tier, "limit": PAGE_SIZE, "offset": offset},
        )
        following = answer.headers.get("X-Next-Offset")
        rows = [
            {
                **e,
                "passed": None if e.get("passed") is None else gettext("Yes") if e["passed"] else gettext("No"),
            }
            for e in answer.body
        ]
        table = Table(
            "enrolments",
            N_("Enrolments"),
            [
                Column("id", N_("Enrolment"), link=lambda row: f"/institution/enrolments/{row['id']}"),
                Column("id_masked", N_("ID number (masked)")),
                Column("tier", N_("Tier"), "code"),
                Column("target_group", N_("Target group"), "code"),
                Column("mode", N_("Mode"), "code"),
                Column("starts_on", N_("Starts on"), "date"),
                Column("status", N_("Status"), "code"),
                Column("completed_on", N_("Completed on"), "date"),
                Column("passed", N_("Passed")),
                Column("outcome", N_("Outcome"), "code"),
                Column("withdrawn_reason", N_("Reason for withdrawal")),
            ],
            rows,
            empty=N_("No enrolment matches."),
            note=N_("The download holds the rows of this page, with its filters."),
        )
        keep = {"status": status, "tier": tier}
        base = "/institution/enrolments"
        from urllib.parse import urlencode

        def at(where: int) -> str:
            return base + "?" + urlencode({k: v for k, v in {**keep, "offset": str(where)}.items() if v})

        return page(
            request,
            "institution/enrolments.html",
            viewer,
            Ctx(
                tables=[table],
                extra={
                    "status_tabs": _filter_tabs(base, "status", ENROLMENT_STATUSES, status, {"tier": tier}),
                    "tier_tabs": _filter_tabs(base, "tier", TIERS, tier, {"status": status}),
                    "first": offset + 1 if rows else 0,
                    "last": offset + len(rows),
                    "previous": at(max(0, offset - PAGE_SIZE)) if offset > 0 else None,
                    "next": at(int(following)) if following else None,
                    "status": status,
                },
            ),
        )

    async def enrolment_page(
        request: Request,
        viewer: Viewer,
        enrollment_id: UUID,
        status: int = 200,
        flash: Flash | None = None,
        typed: dict[str, str] | None = None,
    ) -> Response:
        found = await backend(request).get("enrollment", f"/enrollments/{enrollment_id}", viewer.key)
        return page(
            request,
            "institution/enrolment.html",
            viewer,
            Ctx(
                extra={
                    "e": found,
                    "labels": {k: translate_code(str(found[k])) for k in ("tier", "target_group", "mode", "status")},
                    "outcome_label": translate_code(found["outcome"]) if found.get("outcome") else None,
                    "outcomes": [(o, translate_code(o)) for o in OUTCOMES],
                    "created_at": datetime.fromisoformat(found["created_at"]).astimezone(CITY_TIME),
                    "typed": typed or {},  # what was typed in a refused form, shown again
                }
            ),
            status=status,
            flash=flash,
        )

    @r.get("/institution/enrolments/{enrollment_id}")
    async def enrolment(request: Request, enrollment_id: UUID, viewer: Viewer = INSTITUTION) -> Response:
        return await enrolment_page(request, viewer, enrollment_id)

    async def act(
        request: Request,
        viewer: Viewer,
        enrollment_id: UUID,
        build: Any,
        method: str,
        route: str,
        name: str,
        message: str,
    ) -> Response:
        """A form on one enrolment: checked, validated (422 naming the field), sent with the caller's key; a
        refusal shows the page again with the service's reason."""
        form = await checked_form(request, viewer)
        try:
            body = build(form)
            await backend(request).call(
                "enrollment", method, f"/enrollments/{enrollment_id}/{route}", viewer.key, json=body
            )
        except Refusal as error:
            typed = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
            return await enrolment_page(
                request, viewer, enrollment_id, error.status, Flash("error", error.message, error.field), typed
            )
        return done(f"/institution/enrolments/{enrollment_id}", name, message)

    @r.get("/institution/enrolments/{enrollment_id}/{action}")
    async def back_to_enrolment(enrollment_id: UUID, action: str, viewer: Viewer = INSTITUTION) -> Response:
        """A form's address opened (the language switched on a refused form, a reload): the enrolment's page."""
        if action not in ("completion", "outcome", "withdrawal"):
            raise Refusal(404, "not_found", gettext("There is no such page."), None)
        return RedirectResponse(f"/institution/enrolments/{enrollment_id}", status_code=303)

    @r.post("/institution/enrolments/{enrollment_id}/completion")
    async def complete(request: Request, enrollment_id: UUID, viewer: Viewer = INSTITUTION) -> Response:
        return await act(
            request, viewer, enrollment_id, completion_body, "POST", "completion", "institution-completion",
            N_("The completion was reported."),
        )  # fmt: skip

    @r.post("/institution/enrolments/{enrollment_id}/outcome")
    async def outcome(request: Request, enrollment_id: UUID, viewer: Viewer = INSTITUTION) -> Response:
        return await act(
            request, viewer, enrollment_id, outcome_body, "PUT", "outcome", "institution-outcome",
            N_("The outcome was reported."),
        )  # fmt: skip

    @r.post("/institution/enrolments/{enrollment_id}/withdrawal")
    async def withdraw(request: Request, enrollment_id: UUID, viewer: Viewer = INSTITUTION) -> Response:
        return await act(
            request, viewer, enrollment_id, withdrawal_body, "POST", "withdrawal", "institution-withdrawal",
            N_("The trainee was withdrawn."),
        )  # fmt: skip

    @r.get("/institution/subsidies")
    async def subsidies(request: Request, viewer: Viewer = INSTITUTION) -> Response:
        assert viewer.institution_id is not None
        status = chosen(request.query_params.get("status"), DECISION_STATUSES, "status")
        offset = offset_of(request.query_params.get("offset"))
        async with store_of(request)() as store:
            rows = await store.institution_decisions(viewer.institution_id, status, PAGE_SIZE, offset)
            count = await store.institution_decision_count(viewer.institution_id, status)
            summary = await store.decisions_summary(viewer.institution_id)
        totals = decision_totals(summary)
        figures = [
            (gettext("Approved completions"), f"{totals['approved']:,}", "sub-approved"),
            (gettext("Subsidies approved"), f"¥{totals['approved_yuan']:,}", "sub-approved-yuan"),
            (gettext("Refused completions"), f"{totals['rejected']:,}", "sub-rejected"),
            (gettext("Reversed"), f"¥{totals['reversed_yuan']:,}", "sub-reversed-yuan"),
        ]
        base = "/institution/subsidies"
        from urllib.parse import urlencode

        def at(where: int) -> str:
            return base + "?" + urlencode({k: v for k, v in {"status": status, "offset": str(where)}.items() if v})

        return page(
            request,
            "institution/subsidies.html",
            viewer,
            Ctx(
                tables=[_decision_list(rows), _decision_table(summary, "by-tier")],
                charts=[_decision_chart(totals)],
                extra={
                    "status_tabs": _filter_tabs(base, "status", DECISION_STATUSES, status, {}),
                    "figure_items": figures,
                    "first": offset + 1 if rows else 0,
                    "last": offset + len(rows),
                    "count": count,
                    "previous": at(max(0, offset - PAGE_SIZE)) if offset > 0 else None,
                    "next": at(offset + PAGE_SIZE) if offset + PAGE_SIZE < count else None,
                },
            ),
        )

    async def uploads_page(
        request: Request, viewer: Viewer, status: int = 200, flash: Flash | None = None, chosen: str | None = None
    ) -> Response:
        """The form (after a refusal, with the kind the clerk had chosen) and the past uploads."""
        assert viewer.institution_id is not None
        async with store_of(request)() as store:
            past = await store.uploads(viewer.institution_id, limit=50)
        rows = [
            {
                **city_time(u, "created_at"),
                "kind": gettext(UPLOAD_KINDS[u["kind"]][2]),
                "id": u["upload_id"],
            }
            for u in past
        ]
        table = Table(
            "uploads",
            N_("Past uploads"),
            [
                Column("created_at", N_("Sent at (Beijing time)"), "datetime"),
                Column("kind", N_("Kind")),
                Column("file_name", N_("File"), link=lambda row: f"/institution/uploads/{row['id']}"),
                Column("accepted", N_("Accepted"), "int"),
                Column("refused", N_("Refused"), "int"),
            ],
            rows,
            empty=N_("Nothing uploaded through the portal yet."),
        )
        return page(
            request,
            "institution/uploads.html",
            viewer,
            Ctx(tables=[table], extra={"kinds": [(k, v[1], v[2]) for k, v in UPLOAD_KINDS.items()], "chosen": chosen}),
            status=status,
            flash=flash,
        )

    @r.get("/institution/uploads")
    async def uploads(request: Request, viewer: Viewer = INSTITUTION) -> Response:
        return await uploads_page(request, viewer)

    @r.post("/institution/uploads")
    async def upload(request: Request, viewer: Viewer = INSTITUTION) -> Response:
        form = await checked_form(request, viewer)
        assert viewer.institution_id is not None

        kind = form.get("kind")

        async def refused(status: int, message: str, field: str) -> Response:
            chosen = kind if isinstance(kind, str) and kind in UPLOAD_KINDS else None
            return await uploads_page(request, viewer, status, Flash("error", message, field), chosen)

        if not isinstance(kind, str) or kind not in UPLOAD_KINDS:
            return await refused(422, gettext("Choose what the file holds."), "kind")
        if kind == "withdrawals" and form.get("confirm_withdrawals") != "yes":  # a filled-down reason withdraws all
            return await refused(
                422, gettext("Tick the box to confirm the withdrawals: they cannot be undone."), "confirm_withdrawals"
            )
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            return await refused(422, gettext("Choose a file to upload."), "file")
        data = await file.read()
        file_name = file.filename[-200:]
        if not data.strip(b"\xef\xbb\xbf \t\r\n"):
            return await refused(422, gettext("The file is empty."), "file")
        content_type = content_type_of(file_name, data)
        if content_type is None:
            return await refused(
                422,
                gettext("Send a CSV file (UTF-8) or JSON lines; save a spreadsheet as CSV first."),
                "file",
            )
        body = as_utf8(data)
        route = UPLOAD_KINDS[kind][0]
        try:
            answer = await backend(request).call(
                "enrollment",
                "POST",
                route,
                viewer.key,
                content=body,
                content_type=content_type,
                idempotency_key=f"portal-{kind}-{hashlib.sha256(body).hexdigest()}",
            )
        except Refusal as error:
            return await refused(error.status, error.message, "file")
        summary = upload_summary(answer.body, answer.headers.get("Idempotent-Replay") == "true")
        upload_id = uuid4()
        async with store_of(request)() as store:
            await store.save_upload(upload_id, viewer.institution_id, kind, file_name, summary)
        message = N_("The file was sent: each row's result is below.")
        return done(f"/institution/uploads/{upload_id}", "institution-uploaded", message)

    @r.get("/institution/uploads/cohort-template.csv")
    async def cohort_template(viewer: Viewer = INSTITUTION) -> Response:
        return _csv_file(template_csv(UPLOAD_KINDS["cohort"][1]), "cohort-template.csv")

    async def open_enrolments_template(request: Request, viewer: Viewer, kind: str) -> Response:
        """A completions or withdrawals file to fill in: a row for each of the institution's open enrolments."""
        open_ones = await backend(request).all_pages("enrollment", "/enrollments", viewer.key, status="open")
        rows = [{"enrollment_id": e["id"]} for e in open_ones]
        return _csv_file(template_csv(UPLOAD_KINDS[kind][1], rows), f"{kind}-template.csv")

    @r.get("/institution/uploads/completions-template.csv")
    async def completions_template(request: Request, viewer: Viewer = INSTITUTION) -> Response:
        return await open_enrolments_template(request, viewer, "completions")

    @r.get("/institution/uploads/withdrawals-template.csv")
    async def withdrawals_template(request: Request, viewer: Viewer = INSTITUTION) -> Response:
        return await open_enrolments_template(request, viewer, "withdrawals")

    @r.get("/institution/uploads/{upload_id}")
    async def upload_results(request: Request, upload_id: UUID, viewer: Viewer = INSTITUTION) -> Response:
        assert viewer.institution_id is not None
        async with store_of(request)() as store:
            found = await store.upload(upload_id, viewer.institution_id)
        if found is None:  # another institution's upload is as absent as one that never was
            return page(
                request,
                "error.html",
                viewer,
                status=404,
                code="upload_not_found",
                detail=gettext("There is no such upload."),
            )
        summary = found["summary"]
        table = Table(
            "results",
            N_("Each row's result"),
            [
                Column("row", N_("Row"), "int"),
                Column("accepted", N_("Result")),
                Column("enrollment_id", N_("Enrolment")),
                Column("error", N_("Why it was refused")),
                Column("field", N_("Field")),
                Column("message", N_("The service's message")),
            ],
            result_rows(summary),
            empty=N_("The file had no rows."),
            note=N_("Row 1 is the first row after the header."),
        )
        figures = [
            (gettext("Rows"), f"{summary['rows']:,}", "rows"),
            (gettext("Accepted"), f"{summary['accepted']:,}", "accepted"),
            (gettext("Refused"), f"{summary['refused']:,}", "refused"),
        ]
        return page(
            request,
            "institution/upload.html",
            viewer,
            Ctx(
                tables=[table],
                extra={
                    "upload": city_time(found, "created_at"),
                    "kind_label": gettext(UPLOAD_KINDS[found["kind"]][2]),
                    "figure_items": figures,
                    "replayed": summary.get("replayed", False),
                },
            ),
        )

    return r


def _csv_file(data: bytes, name: str) -> Response:
    return Response(
        data, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
