"""A service's dead letters and parked outbox rows, with Replay and Retry: the finance office's and the talent
office's operations pages are the same page on two services (each with the caller's own key)."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from portal.clients import Refusal
from portal.formcheck import when
from portal.i18n import N_
from portal.tables import Column, Table
from portal.web import Ctx, Flash, Viewer, backend, checked_form, done, page, require

PAGE = 200
PARKED = "/dead-letters/outbox/parked"  # where plan_runtime.http serves a service's parked outbox rows


def tables(dead: list[dict[str, Any]], parked: list[dict[str, Any]]) -> list[Table]:
    return [
        Table(
            "dead_letters",
            N_("Dead letters not yet replayed"),
            [
                Column("id", N_("No."), "int"),
                Column("created_at", N_("Received"), "datetime"),
                Column("consumer", N_("Consumer")),
                Column("topic", N_("Topic")),
                Column("partition", N_("Partition"), "int"),
                Column("offset", N_("Offset"), "int"),
                Column("error", N_("Error")),
            ],
            [{**d, "created_at": when(d.get("created_at"))} for d in dead],
            empty=N_("No dead letters: every message was handled."),
            note=N_(
                "Messages this service could not handle. Replay one once its cause is fixed: it goes back on its topic."
            ),
        ),
        Table(
            "parked",
            N_("Parked outbox rows"),
            [
                Column("id", N_("No."), "int"),
                Column("parked_at", N_("Parked"), "datetime"),
                Column("topic", N_("Topic")),
                Column("attempts", N_("Attempts"), "int"),
                Column("size", N_("Bytes"), "int"),
                Column("last_error", N_("Last error")),
                Column("event_id", N_("Event")),
            ],
            [{**p, "parked_at": when(p.get("parked_at"))} for p in parked],
            empty=N_("No parked rows: every event was published."),
            note=N_("Events the broker refused for good. Retry one once its cause is fixed: the relay sends it again."),
        ),
    ]


def operations_router(prefix: str, role: str, service: str, template: str) -> APIRouter:
    """GET {prefix}/operations, POST …/dead-letters/{id}/replay, POST …/parked/{id}/retry."""
    router = APIRouter(include_in_schema=False)
    allowed = require(role)
    here = f"{prefix}/operations"

    async def render(request: Request, viewer: Viewer, flash: Flash | None = None, status: int = 200) -> Response:
        dead = await backend(request).get(service, "/dead-letters", viewer.key, limit=PAGE)
        parked = await backend(request).get(service, PARKED, viewer.key, limit=PAGE)
        return page(
            request,
            template,
            viewer,
            Ctx(tables=tables(dead, parked), extra={"live": False}),
            status=status,
            flash=flash,
        )

    @router.get(here)
    async def operations(request: Request, viewer: Viewer = allowed) -> Response:
        return await render(request, viewer)

    def action(path: str, name: str, message: str) -> Callable[..., Any]:
        async def act(request: Request, number: int, viewer: Viewer = allowed) -> Response:
            await checked_form(request, viewer)
            try:
                await backend(request).post(service, path.format(number), viewer.key)
            except Refusal as error:
                return await render(request, viewer, Flash("error", error.message, error.field), error.status)
            return done(here, name, message)

        return act

    router.add_api_route(
        here + "/dead-letters/{number}/replay",
        action("/dead-letters/{}/replay", f"{service}-replayed", N_("The message is back on its topic.")),
        methods=["POST"],
    )
    router.add_api_route(
        here + "/parked/{number}/retry",
        action(PARKED + "/{}/retry", f"{service}-retrying", N_("The relay sends the event again.")),
        methods=["POST"],
    )
    return router
