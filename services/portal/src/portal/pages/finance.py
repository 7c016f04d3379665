"""The finance office's pages: the fund as a burn-down, subsidies with filters and each decision's "why" (with a
reversal), payment batches (create, look up, pay), an institution's standing (release its reservations), and
funding's dead letters. Everything that is funding's is read from its API with the caller's own key; the
burn-down's history comes from the read model."""

import asyncio
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal import formcheck as check
from portal.burndown import Fund, burndown, by_month, chart_option, monthly_option
from portal.clients import Refusal
from portal.formcheck import Invalid, short, when
from portal.i18n import N_, gettext
from portal.pages.ops import operations_router
from portal.tables import Column, Table
from portal.web import (
    Chart,
    Ctx,
    Flash,
    Viewer,
    backend,
    checked_form,
    done,
    page,
    refusal_flash,
    refusal_status,
    require,
    store_of,
)

ROLE = "finance"
FINANCE = require(ROLE)  # the dependency of every page here
TIERS = ("professional", "senior", "basic")
STATUSES = ("approved", "paid", "reserved", "held", "rejected", "reversed", "released", "withdrawn")
SUBSIDY_PAGE = 100


# --- /finance: the fund ----------------------------------------------------------------------------------------


def fund_figures(fund: Fund) -> list[tuple[str, str, str]]:
    def yuan(value: int) -> str:
        return f"¥{value:,}"

    rate = "—" if fund.burn_rate is None else f"¥{round(fund.burn_rate):,}"
    return [
        (gettext("Fund total"), yuan(fund.total), "fund-total"),
        (gettext("Approved (incl. paid)"), yuan(fund.approved), "fund-approved"),
        (gettext("Paid"), yuan(fund.paid), "fund-paid"),
        (gettext("Reserved for open enrolments"), yuan(fund.reserved), "fund-reserved"),
        (gettext("Available now"), yuan(fund.available), "fund-available"),
        (gettext("Burn rate per day of completions"), rate, "fund-burn-rate"),
        (
            gettext("Projected exhaustion"),
            fund.exhaustion.isoformat() if fund.exhaustion else gettext("not in sight"),
            "fund-exhaustion",
        ),
    ]


def summary_tables(summary: dict[str, Any]) -> list[Table]:
    ledger = [{"entry": k, "amount_yuan": v} for k, v in sorted(summary.get("ledger", {}).items())]
    return [
        Table(
            "by_status_and_tier",
            N_("Subsidies by status and tier"),
            [
                Column("status", N_("Status"), "code"),
                Column("tier", N_("Tier"), "code"),
                Column("count", N_("Count"), "int"),
                Column("amount_yuan", N_("Amount"), "yuan"),
            ],
            list(summary.get("by_status_and_tier", [])),
        ),
        Table(
            "rejections_by_reason",
            N_("Rejections by reason"),
            [
                Column("reason", N_("Reason"), "reason"),
                Column("count", N_("Count"), "int"),
                Column("amount_yuan", N_("Amount"), "yuan"),
            ],
            list(summary.get("rejections_by_reason", [])),
            empty=N_("No subsidy was rejected."),
        ),
        Table(
            "ledger",
            N_("Ledger totals by entry kind"),
            [Column("entry", N_("Entry"), "code"), Column("amount_yuan", N_("Amount"), "yuan")],
            ledger,
        ),
    ]


# --- /finance/subsidies ----------------------------------------------------------------------------------------


def subsidy_table(rows: list[dict[str, Any]]) -> Table:
    shown = [
        {
            **r,
            "institution": r.get("institution_id"),
            "decided_at": when(r.get("decided_at")),
        }
        for r in rows
    ]
    return Table(
        "subsidies",
        N_("Subsidies"),
        [
            Column("completed_on", N_("Completed on"), "date"),
            Column("institution", N_("Institution"), link=lambda r: f"/finance/institutions/{r['institution_id']}"),
            Column("tier", N_("Tier"), "code"),
            Column("status", N_("Status"), "code"),
            Column("amount_yuan", N_("Amount"), "yuan"),
            Column("reason", N_("Reason"), "reason"),
            Column("decided_at", N_("Decided"), "datetime"),
            Column(
                "batch_id",
                N_("Payment batch"),
                link=lambda r: f"/finance/batches?batch={r['batch_id']}" if r.get("batch_id") else None,
            ),
            Column("enrollment_id", N_("Enrolment (why)"), link=lambda r: f"/finance/decisions/{r['enrollment_id']}"),
        ],
        shown,
        empty=N_("No subsidy matches these filters."),
    )


def subsidy_filters(query: dict[str, str]) -> dict[str, Any]:
    """The subsidies page's filters, checked (Invalid names the field)."""
    start, end = check.optional_date(query, "completed_from"), check.optional_date(query, "completed_to")
    check.date_range(start, end, "completed_to")
    return {
        "institution_id": check.optional_uuid(query, "institution_id"),
        "tier": check.choice(query, "tier", TIERS),
        "status": check.choice(query, "status", STATUSES),
        "completed_from": start,
        "completed_to": end,
    }


# --- /finance/decisions/{id} -----------------------------------------------------------------------------------


def ledger_table(decision: dict[str, Any]) -> Table:
    return Table(
        "decision_ledger",
        N_("Ledger entries behind this decision"),
        [
            Column("at", N_("When"), "datetime"),
            Column("entry", N_("Entry"), "code"),
            Column("amount_yuan", N_("Amount"), "yuan"),
            Column("policy_version", N_("Policy version")),
            Column("actor", N_("By")),
            Column("reason", N_("Reason"), "reason"),
            Column("caused_by", N_("Caused by event")),
        ],
        [{**e, "at": when(e.get("at"))} for e in decision.get("ledger", [])],
        empty=N_("No ledger entry yet."),
    )


# --- /finance/batches ------------------------------------------------------------------------------------------


def payable_by_institution(approved: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Approved subsidies not in any batch yet, per institution: what a new batch would hold."""
    grouped: dict[str, dict[str, Any]] = {}
    for row in approved:
        if row.get("status") != "approved" or row.get("batch_id"):
            continue
        entry = grouped.setdefault(
            str(row["institution_id"]), {"institution_id": str(row["institution_id"]), "count": 0, "total_yuan": 0}
        )
        entry["count"] += 1
        entry["total_yuan"] += int(row["amount_yuan"])
    return sorted(grouped.values(), key=lambda e: (-e["total_yuan"], e["institution_id"]))


def payable_table(rows: list[dict[str, Any]]) -> Table:
    return Table(
        "payable",
        N_("Payable now: approved subsidies not yet in a batch"),
        [
            Column("institution_id", N_("Institution"), link=lambda r: f"/finance/institutions/{r['institution_id']}"),
            Column("count", N_("Subsidies"), "int"),
            Column("total_yuan", N_("Total"), "yuan"),
            Column(
                "prepare",
                N_("Batch"),
                link=lambda r: (
                    f"/finance/batches?institution_id={r['institution_id']}"
                    f"&declared_count={r['count']}&declared_total_yuan={r['total_yuan']}#create"
                ),
            ),
        ],
        [{**r, "prepare": gettext("Prepare a batch")} for r in rows],
        empty=N_("Nothing to pay: every approved subsidy is in a batch."),
    )


def batches_table(rows: list[dict[str, Any]]) -> Table:
    return Table(
        "batches",
        N_("Batches created here"),
        [
            Column("created_at", N_("Created"), "datetime"),
            Column("id", N_("Batch"), link=lambda r: f"/finance/batches?batch={r['id']}"),
            Column("institution_id", N_("Institution")),
            Column("subsidy_count", N_("Subsidies"), "int"),
            Column("total_yuan", N_("Total"), "yuan"),
            Column("status", N_("Status"), "code"),
            Column("paid_at", N_("Paid"), "datetime"),
        ],
        rows,
        empty=N_("No batch was created through these pages yet."),
    )


def _batch_row(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "created_at": when(body.get("created_at")), "paid_at": when(body.get("paid_at"))}


# --- the pages -------------------------------------------------------------------------------------------------


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)
    r.include_router(operations_router("/finance", ROLE, "funding", "finance/operations.html"))

    @r.get("/finance")
    async def fund_page(request: Request, viewer: Viewer = FINANCE) -> Response:
        api = backend(request)
        fund_body, summary = await asyncio.gather(
            api.get("funding", "/fund", viewer.key), api.get("funding", "/summary", viewer.key)
        )
        fund = Fund.of(fund_body)
        async with store_of(request)() as store:
            days = await store.approvals_by_completion_day()
        drawn = burndown(fund, days)
        labels = {
            "committed": gettext("Committed (approved minus reversed)"),
            "available": gettext("Available"),
            "projection": gettext("Projection at the burn rate"),
            "total": gettext("Fund total"),
            "yuan": gettext("yuan"),
        }
        chart = Chart("burndown", chart_option(fund, drawn, labels), height=380)
        monthly = monthly_option(
            by_month(days),
            {"approved": gettext("Approved yuan"), "reversed": gettext("Reversed yuan"), "yuan": gettext("yuan")},
        )
        return page(
            request,
            "finance/fund.html",
            viewer,
            Ctx(
                tables=summary_tables(summary),
                charts=[chart, Chart("by_month", monthly, height=260)],
                extra={
                    "figures_list": fund_figures(fund),
                    "drawn": drawn,
                    "policy_version": fund_body.get("policy_version"),
                },
            ),
        )

    @r.get("/finance/subsidies")
    async def subsidies_page(request: Request, viewer: Viewer = FINANCE) -> Response:
        query = dict(request.query_params)
        flash, status, rows, following = None, 200, [], None
        offset = 0
        try:
            filters = subsidy_filters(query)
            offset = check.optional_int(query, "offset", 0, 10**9) or 0
            answer = await backend(request).call(
                "funding",
                "GET",
                "/subsidies",
                viewer.key,
                params={**{k: str(v) for k, v in filters.items() if v}, "limit": SUBSIDY_PAGE, "offset": offset},
            )
            rows = answer.body
            following = answer.headers.get("X-Next-Offset")
        except (Invalid, Refusal) as error:
            flash, status = refusal_flash(error), refusal_status(error)
        async with store_of(request)() as store:
            institutions = await store.decided_institutions()
        base = {k: v for k, v in query.items() if k not in ("offset", "export", "format", "ok") and v}

        def link(to: int | None) -> str | None:
            if to is None:
                return None
            from urllib.parse import urlencode

            return "/finance/subsidies?" + urlencode({**base, "offset": to})

        return page(
            request,
            "finance/subsidies.html",
            viewer,
            Ctx(
                tables=[subsidy_table(rows)],
                extra={
                    "q": query,
                    "institutions": institutions,
                    "tiers": TIERS,
                    "statuses": STATUSES,
                    "previous_link": link(max(offset - SUBSIDY_PAGE, 0)) if offset > 0 else None,
                    "next_link": link(int(following)) if following else None,
                    "first_row": offset + 1 if rows else 0,
                    "last_row": offset + len(rows),
                    "short": short,
                },
            ),
            status=status,
            flash=flash,
        )

    async def decision_page(
        request: Request, viewer: Viewer, enrollment_id: UUID, flash: Flash | None = None, status: int = 200
    ) -> Response:
        decision = await backend(request).get("funding", f"/decisions/{enrollment_id}", viewer.key)
        reversible = decision.get("status") == "approved" and not decision.get("batch_id")
        return page(
            request,
            "finance/decision.html",
            viewer,
            Ctx(
                tables=[ledger_table(decision)],
                extra={
                    "d": decision,
                    "reversible": reversible,
                    "decided_at": when(decision.get("decided_at")),
                },
            ),
            status=status,
            flash=flash,
        )

    @r.get("/finance/decisions/{enrollment_id}")
    async def decision(request: Request, enrollment_id: UUID, viewer: Viewer = FINANCE) -> Response:
        return await decision_page(request, viewer, enrollment_id)

    @r.post("/finance/decisions/{enrollment_id}/reverse")
    async def reverse(request: Request, enrollment_id: UUID, viewer: Viewer = FINANCE) -> Response:
        form = await checked_form(request, viewer)
        try:
            why = check.reason(form, "reason")
            found = await backend(request).get("funding", f"/decisions/{enrollment_id}", viewer.key)
            await backend(request).post("funding", f"/subsidies/{found['id']}/reverse", viewer.key, {"reason": why})
        except (Invalid, Refusal) as error:
            return await decision_page(request, viewer, enrollment_id, refusal_flash(error), refusal_status(error))
        return done(
            f"/finance/decisions/{enrollment_id}",
            "subsidy-reversed",
            N_("The subsidy is reversed: its money is back in the fund."),
        )

    async def batches_page(
        request: Request,
        viewer: Viewer,
        flash: Flash | None = None,
        status: int = 200,
        form: dict[str, str] | None = None,
    ) -> Response:
        api = backend(request)
        query = dict(request.query_params)
        shown: dict[str, Any] | None = None
        try:
            wanted = check.optional_uuid(query, "batch")
            if wanted is not None:
                shown = _batch_row(await api.get("funding", f"/payment-batches/{wanted}", viewer.key))
        except (Invalid, Refusal) as error:
            if flash is None:
                flash, status = refusal_flash(error), refusal_status(error)
        async with store_of(request)() as store:
            recorded = await store.recorded_batches()
        found = await asyncio.gather(
            *(api.get("funding", f"/payment-batches/{b['batch_id']}", viewer.key) for b in recorded)
        )
        approved = await api.all_pages("funding", "/subsidies", viewer.key, status="approved")
        return page(
            request,
            "finance/batches.html",
            viewer,
            Ctx(
                tables=[payable_table(payable_by_institution(approved)), batches_table([_batch_row(b) for b in found])],
                # not live: the payable table reads every approved subsidy (a page of 1,000 at a time) from funding
                extra={"shown": shown, "q": query, "form": form if form is not None else query, "live": False},
            ),
            status=status,
            flash=flash,
        )

    @r.get("/finance/batches")
    async def batches(request: Request, viewer: Viewer = FINANCE) -> Response:
        return await batches_page(request, viewer)

    @r.post("/finance/batches")
    async def create_batch(request: Request, viewer: Viewer = FINANCE) -> Response:
        form = await checked_form(request, viewer)
        typed = {k: str(v) for k, v in form.items() if k != "csrf"}
        try:
            institution_id = check.required_uuid(form, "institution_id")
            count = check.required_int(form, "declared_count", 1, 10**9)
            total = check.required_int(form, "declared_total_yuan", 1, 2**53)
            created = await backend(request).post(
                "funding",
                "/payment-batches",
                viewer.key,
                {"institution_id": str(institution_id), "declared_count": count, "declared_total_yuan": total},
            )
        except (Invalid, Refusal) as error:
            return await batches_page(request, viewer, refusal_flash(error), refusal_status(error), typed)
        async with store_of(request)() as store:
            await store.record_batch(UUID(created["batch_id"]), institution_id)
        return done(
            f"/finance/batches?batch={created['batch_id']}",
            "batch-created",
            N_("The payment batch is created. Check its total, then pay it."),
        )

    @r.post("/finance/batches/{batch_id}/pay")
    async def pay_batch(request: Request, batch_id: UUID, viewer: Viewer = FINANCE) -> Response:
        form = await checked_form(request, viewer)
        try:
            total = check.required_int(form, "declared_total_yuan", 1, 2**53)
            await backend(request).post(
                "funding", f"/payment-batches/{batch_id}/pay", viewer.key, {"declared_total_yuan": total}
            )
        except (Invalid, Refusal) as error:
            return await batches_page(request, viewer, refusal_flash(error), refusal_status(error))
        return done(f"/finance/batches?batch={batch_id}", "batch-paid", N_("The batch is paid."))

    async def institution_page(
        request: Request, viewer: Viewer, institution_id: UUID, flash: Flash | None = None, status: int = 200
    ) -> Response:
        api = backend(request)
        standing, statement = await asyncio.gather(
            api.get("funding", f"/institutions/{institution_id}", viewer.key),
            api.get("funding", f"/institutions/{institution_id}/statement", viewer.key, details="false"),
        )
        totals = Table(
            "statement_totals",
            N_("Subsidies by status, tier and reason"),
            [
                Column("status", N_("Status"), "code"),
                Column("tier", N_("Tier"), "code"),
                Column("reason", N_("Reason"), "reason"),
                Column("count", N_("Count"), "int"),
                Column("amount_yuan", N_("Amount"), "yuan"),
            ],
            list(statement.get("totals", [])),
        )
        return page(
            request,
            "finance/institution.html",
            viewer,
            Ctx(
                tables=[totals],
                extra={"standing": standing, "changed_at": when(standing.get("changed_at")), "iid": institution_id},
            ),
            status=status,
            flash=flash,
        )

    @r.get("/finance/institutions/{institution_id}")
    async def institution(request: Request, institution_id: UUID, viewer: Viewer = FINANCE) -> Response:
        return await institution_page(request, viewer, institution_id)

    @r.post("/finance/institutions/{institution_id}/release")
    async def release(request: Request, institution_id: UUID, viewer: Viewer = FINANCE) -> Response:
        form = await checked_form(request, viewer)
        try:
            why = check.reason(form, "reason")
            released = await backend(request).post(
                "funding", f"/institutions/{institution_id}/reservations/release", viewer.key, {"reason": why}
            )
        except (Invalid, Refusal) as error:
            return await institution_page(request, viewer, institution_id, refusal_flash(error), refusal_status(error))
        return done(
            f"/finance/institutions/{institution_id}?released={released['released_count']}"
            f"&released_yuan={released['released_yuan']}",
            "reservations-released",
            N_("The institution's reservations are back in the fund."),
        )

    return r
