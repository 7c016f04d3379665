"""The talent office's pages: the notice inbox as a work queue (waiting → acknowledged → card issued / declined),
a person's determinations, introduced talents with their evidence to verify, and talent-card's dead letters.
Everything is talent-card's, read and written through its API with the caller's own key; the read model only
draws the notices per month."""

import asyncio
from typing import Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal import formcheck as check
from portal.clients import Refusal
from portal.formcheck import Invalid, when
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
    safe_next,
    store_of,
)

ROLE = "talent_office"
OFFICE = require(ROLE)  # the dependency of every page here
STATUSES = ("waiting", "acknowledged", "issued", "declined")
ROUTES = ("plan", "introduced")
LEVELS = ("national", "provincial", "municipal")
INBOX_PAGE = 50


# --- the inbox -------------------------------------------------------------------------------------------------


def inbox_filters(query: dict[str, str]) -> dict[str, Any]:
    """The inbox's tab (a status; `all` for every one) and filters, checked."""
    tab = check.text(query, "status") or "waiting"
    if tab not in (*STATUSES, "all"):
        raise Invalid("status", N_("Choose one of the listed values."))
    start, end = check.optional_date(query, "created_from"), check.optional_date(query, "created_to")
    check.date_range(start, end, "created_to")
    return {
        "status": None if tab == "all" else tab,
        "route": check.choice(query, "route", ROUTES),
        "created_from": start,
        "created_to": end,
    }


def tab_counts(summary: list[dict[str, Any]], route: str | None) -> dict[str, int]:
    """Notices per status (and `all`), for one route or every route: the numbers on the inbox's tabs."""
    counts = dict.fromkeys((*STATUSES, "all"), 0)
    for row in summary:
        if route is None or row["route"] == route:
            counts[row["status"]] = counts.get(row["status"], 0) + int(row["count"])
            counts["all"] += int(row["count"])
    return counts


def notice_table(rows: list[dict[str, Any]], decided: bool = True) -> Table:
    """The inbox's rows; without the outcome's columns on the tabs of notices not decided yet."""
    shown = [
        {
            **n,
            "created_at": when(n.get("created_at")),
            "decided_at": when(n.get("decided_at")),
            "evidence_text": "; ".join(n.get("evidence") or []),
            "outcome": n.get("card_number") or n.get("decline_reason") or "",
        }
        for n in rows
    ]
    return Table(
        "notices",
        N_("Notices"),
        [
            Column("created_at", N_("Received"), "datetime"),
            Column("person_id", N_("Person (pseudonym)"), link=lambda r: f"/talent/people?person_id={r['person_id']}"),
            Column("id_masked", N_("ID number (masked)")),
            Column("route", N_("Route"), "code"),
            Column("rule_id", N_("Rule")),
            Column("evidence_text", N_("Evidence")),
            Column("status", N_("Status"), "code"),
            *(
                [Column("outcome", N_("Card number or reason")), Column("decided_at", N_("Decided"), "datetime")]
                if decided
                else []
            ),
        ],
        shown,
        empty=N_("No notice here."),
    )


def notices_chart(rows: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    """Notices per month by route (read model), stacked bars."""
    months = sorted({r["month"] for r in rows})
    series = []
    for route in ROUTES:
        per = {r["month"]: int(r["count"]) for r in rows if r["route"] == route}
        series.append(
            {
                "name": labels[route],
                "type": "bar",
                "stack": "all",
                "barMaxWidth": 56,
                "data": [per.get(m, 0) for m in months],
            }
        )
    return {
        "color": ["#b3261e", "#1d4e89"],
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 50, "right": 20, "top": 36, "bottom": 30},
        "xAxis": {"type": "category", "data": [m.strftime("%Y-%m") for m in months]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": series,
    }


# --- people and talents ----------------------------------------------------------------------------------------


def determinations_table(rows: list[dict[str, Any]]) -> Table:
    return Table(
        "determinations",
        N_("Determinations, oldest first"),
        [
            Column("at", N_("When"), "datetime"),
            Column("route", N_("Route"), "code"),
            Column("rule_id", N_("Rule")),
            Column("rule_version", N_("Rule version")),
            Column("eligible_text", N_("Eligible")),
            Column("evidence_text", N_("What the rule relied on")),
            Column("explanation", N_("Explanation")),
        ],
        [
            {
                **d,
                "at": when(d.get("at")),
                "eligible_text": gettext("Yes") if d.get("eligible") else gettext("No"),
                "evidence_text": "; ".join(d.get("evidence") or []),
            }
            for d in rows
        ],
        empty=N_("Search for a person to see their determinations."),
    )


def evidence_request(form: dict[str, Any]) -> list[dict[str, Any]]:
    """The evidence declared on the registration form: each kind whose fields are filled in."""
    evidence: list[dict[str, Any]] = []
    platform = check.text(form, "followers_platform")
    followers = check.optional_int(form, "followers_value")
    if platform or followers is not None:
        if not platform:
            raise Invalid("followers_platform", N_("Name the platform of these followers."))
        if followers is None:
            raise Invalid("followers_value", N_("This field is required."))
        evidence.append({"kind": "followers", "platform": platform[:100], "value": followers})
    sales = check.optional_int(form, "sales_value")
    if sales is not None:
        evidence.append({"kind": "annual_sales", "value": sales})
    level = check.choice(form, "award_level", LEVELS)
    award = check.text(form, "award_detail")
    if level or award:
        if not level:
            raise Invalid("award_level", N_("Choose the award's level."))
        if not award:
            raise Invalid("award_detail", N_("Name the award."))
        evidence.append({"kind": "award", "level": level, "detail": award[:500]})
    presence = check.text(form, "presence_detail")
    if presence:
        evidence.append({"kind": "local_presence", "detail": presence[:500]})
    return evidence


def evidence_table(talent: dict[str, Any]) -> Table:
    def described(e: dict[str, Any]) -> str:
        parts = [e.get("platform"), f"{e['value']:,}" if e.get("value") is not None else None, e.get("level")]
        parts.append(e.get("detail"))
        return " · ".join(str(p) for p in parts if p)

    return Table(
        "evidence",
        N_("Evidence"),
        [
            Column("kind", N_("Kind"), "code"),
            Column("described", N_("What was declared")),
            Column("status", N_("Status"), "code"),
        ],
        [{**e, "described": described(e)} for e in talent.get("evidence", [])],
        empty=N_("No evidence declared."),
    )


def talents_table(rows: list[dict[str, Any]]) -> Table:
    return Table(
        "talents",
        N_("Talents registered here"),
        [
            Column("created_at", N_("Registered"), "datetime"),
            Column("display_name", N_("Full name"), link=lambda r: f"/talent/talents/{r['id']}"),
            Column("id_masked", N_("ID number (masked)")),
            Column("person_id", N_("Person (pseudonym)")),
            Column("evidence_count", N_("Evidence"), "int"),
            Column("verified_count", N_("Verified"), "int"),
            Column("eligible_text", N_("Eligible")),
        ],
        [
            {
                **t,
                "created_at": when(t.get("created_at")),
                "evidence_count": len(t.get("evidence", [])),
                "verified_count": sum(1 for e in t.get("evidence", []) if e.get("status") == "verified"),
                "eligible_text": gettext("Yes") if t["determination"]["eligible"] else gettext("Not yet"),
            }
            for t in rows
        ],
        empty=N_("No talent was registered through these pages yet."),
    )


# --- the pages -------------------------------------------------------------------------------------------------


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)
    r.include_router(operations_router("/talent", ROLE, "talent-card", "talent/operations.html"))

    async def inbox_page(request: Request, viewer: Viewer, flash: Flash | None = None, status: int = 200) -> Response:
        api = backend(request)
        query = dict(request.query_params)
        rows: list[dict[str, Any]] = []
        following, offset = None, 0
        filters: dict[str, Any] = {"status": "waiting", "route": None}
        try:
            filters = inbox_filters(query)
            offset = check.optional_int(query, "offset", 0, 10**9) or 0
            answer = await api.call(
                "talent-card",
                "GET",
                "/notices",
                viewer.key,
                params={**{k: str(v) for k, v in filters.items() if v}, "limit": INBOX_PAGE, "offset": offset},
            )
            rows, following = answer.body, answer.headers.get("X-Next-Offset")
        except (Invalid, Refusal) as error:
            if flash is None:
                flash, status = refusal_flash(error), refusal_status(error)
        summary = await api.get("talent-card", "/notices/summary", viewer.key)
        async with store_of(request)() as store:
            by_month = await store.notices_by_route()
        labels = {"plan": gettext("Plan route (senior tier)"), "introduced": gettext("Introduced talents")}
        base = {k: v for k, v in query.items() if k in ("route", "created_from", "created_to") and v}
        tab = filters["status"] or "all"

        def at(to: int | None, status_tab: str = tab) -> str:
            wanted = {**base, "status": status_tab}
            if to:
                wanted["offset"] = str(to)
            return "/talent?" + urlencode(wanted)

        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return page(
            request,
            "talent/inbox.html",
            viewer,
            Ctx(
                tables=[notice_table(rows, decided=filters["status"] not in ("waiting", "acknowledged"))],
                charts=[Chart("notices_by_month", notices_chart(by_month, labels), height=220)],
                extra={
                    "q": query,
                    "tab": tab,
                    "counts": tab_counts(summary, filters["route"]),
                    "tabs": [(s, at(0, s)) for s in (*STATUSES, "all")],
                    "routes": ROUTES,
                    "previous_link": at(max(offset - INBOX_PAGE, 0)) if offset > 0 else None,
                    "next_link": at(int(following)) if following else None,
                    "first_row": offset + 1 if rows else 0,
                    "last_row": offset + len(rows),
                    "back": here,
                },
            ),
            status=status,
            flash=flash,
        )

    @r.get("/talent")
    async def inbox(request: Request, viewer: Viewer = OFFICE) -> Response:
        return await inbox_page(request, viewer)

    def notice_action(kind: str) -> Any:
        async def act(request: Request, notice_id: UUID, viewer: Viewer = OFFICE) -> Response:
            form = await checked_form(request, viewer)
            back = safe_next(check.text(form, "back"), "/talent")
            if not back.startswith("/talent"):
                back = "/talent"
            try:
                if kind == "acknowledge":
                    await backend(request).post("talent-card", f"/notices/{notice_id}/acknowledgement", viewer.key)
                elif kind == "card":
                    number = check.text(form, "card_number")
                    if not 3 <= len(number) <= 50:
                        raise Invalid("card_number", N_("A card number has 3 to 50 characters."))
                    body = {"card_number": number}
                    await backend(request).post("talent-card", f"/notices/{notice_id}/card", viewer.key, body)
                else:
                    body = {"reason": check.reason(form, "reason")}
                    await backend(request).post("talent-card", f"/notices/{notice_id}/declination", viewer.key, body)
            except (Invalid, Refusal) as error:
                return await inbox_page(request, viewer, refusal_flash(error), refusal_status(error))
            message = {
                "acknowledge": N_("The notice is acknowledged."),
                "card": N_("The card is recorded as issued."),
                "decline": N_("The card is recorded as declined."),
            }[kind]
            return done(back, f"notice-{kind}", message)

        return act

    for kind in ("acknowledge", "card", "decline"):
        r.add_api_route(f"/talent/notices/{{notice_id}}/{kind}", notice_action(kind), methods=["POST"])

    @r.get("/talent/people")
    async def people(request: Request, viewer: Viewer = OFFICE) -> Response:
        query = dict(request.query_params)
        rows: list[dict[str, Any]] = []
        flash, status = None, 200
        try:
            person = check.person_id(query, "person_id")
            if person:
                rows = await backend(request).get("talent-card", f"/people/{person}/determinations", viewer.key)
        except (Invalid, Refusal) as error:
            flash, status = refusal_flash(error), refusal_status(error)
        return page(
            request,
            "talent/people.html",
            viewer,
            Ctx(tables=[determinations_table(rows)], extra={"q": query, "live": False}),
            status=status,
            flash=flash,
        )

    async def talents_page(
        request: Request,
        viewer: Viewer,
        flash: Flash | None = None,
        status: int = 200,
        form: dict[str, str] | None = None,
    ) -> Response:
        api = backend(request)
        async with store_of(request)() as store:
            recorded = await store.recorded_talents()
        found = await asyncio.gather(
            *(api.get("talent-card", f"/talents/{t['talent_id']}", viewer.key) for t in recorded)
        )
        return page(
            request,
            "talent/talents.html",
            viewer,
            Ctx(
                tables=[talents_table(list(found))],
                extra={"form": form or {}, "levels": LEVELS, "registration": uuid4().hex, "live": False},
            ),
            status=status,
            flash=flash,
        )

    @r.get("/talent/talents")
    async def talents(request: Request, viewer: Viewer = OFFICE) -> Response:
        query = dict(request.query_params)
        if check.text(query, "talent"):
            try:
                wanted = check.required_uuid(query, "talent")
            except Invalid as error:
                return await talents_page(request, viewer, refusal_flash(error), 422)
            from fastapi.responses import RedirectResponse

            return RedirectResponse(f"/talent/talents/{wanted}", status_code=303)
        return await talents_page(request, viewer)

    @r.post("/talent/talents")
    async def register(request: Request, viewer: Viewer = OFFICE) -> Response:
        form = await checked_form(request, viewer)
        typed = {k: str(v) for k, v in form.items() if k != "csrf"}
        try:
            id_number = check.text(form, "id_number")
            name = check.text(form, "display_name")
            if not id_number:
                raise Invalid("id_number", N_("This field is required."))
            if not 1 <= len(name) <= 100:
                raise Invalid("display_name", N_("Give a name of 1 to 100 characters."))
            body = {"id_number": id_number, "display_name": name, "evidence": evidence_request(typed)}
            key = check.text(form, "registration") or None
            created = (
                await backend(request).call(
                    "talent-card", "POST", "/talents", viewer.key, json=body, idempotency_key=key
                )
            ).body
        except (Invalid, Refusal) as error:
            return await talents_page(request, viewer, refusal_flash(error), refusal_status(error), typed)
        async with store_of(request)() as store:
            await store.record_talent(UUID(created["id"]))
        return done(
            f"/talent/talents/{created['id']}",
            "talent-registered",
            N_("The talent is registered. Verify their evidence below."),
        )

    async def talent_page(
        request: Request, viewer: Viewer, talent_id: UUID, flash: Flash | None = None, status: int = 200
    ) -> Response:
        talent = await backend(request).get("talent-card", f"/talents/{talent_id}", viewer.key)
        return page(
            request,
            "talent/talent.html",
            viewer,
            Ctx(
                tables=[evidence_table(talent)],
                extra={"t": talent, "created_at": when(talent.get("created_at")), "live": False},
            ),
            status=status,
            flash=flash,
        )

    @r.get("/talent/talents/{talent_id}")
    async def talent(request: Request, talent_id: UUID, viewer: Viewer = OFFICE) -> Response:
        return await talent_page(request, viewer, talent_id)

    @r.post("/talent/talents/{talent_id}/evidence/{evidence_id}/verification")
    async def verify(request: Request, talent_id: UUID, evidence_id: UUID, viewer: Viewer = OFFICE) -> Response:
        form = await checked_form(request, viewer)
        try:
            decision = check.choice(form, "decision", ("verify", "reject"))
            if decision is None:
                raise Invalid("decision", N_("Choose one of the listed values."))
            note = check.text(form, "note")
            if len(note) > 500:
                raise Invalid("note", N_("This text is too long."))
            await backend(request).post(
                "talent-card",
                f"/talents/{talent_id}/evidence/{evidence_id}/verification",
                viewer.key,
                {"verified": decision == "verify", "note": note or None},
            )
        except (Invalid, Refusal) as error:
            return await talent_page(request, viewer, talent_id, refusal_flash(error), refusal_status(error))
        if decision == "verify":
            return done(f"/talent/talents/{talent_id}", "evidence-verified", N_("The evidence is verified."))
        return done(f"/talent/talents/{talent_id}", "evidence-rejected", N_("The evidence is rejected."))

    @r.post("/talent/talents/{talent_id}/evaluation")
    async def evaluate(request: Request, talent_id: UUID, viewer: Viewer = OFFICE) -> Response:
        await checked_form(request, viewer)
        try:
            await backend(request).post("talent-card", f"/talents/{talent_id}/evaluation", viewer.key)
        except Refusal as error:
            return await talent_page(request, viewer, talent_id, refusal_flash(error), error.status)
        return done(f"/talent/talents/{talent_id}", "talent-evaluated", N_("Evaluated again under the rules in force."))

    return r
