"""The read model, fed by events: one upsert per run of events of a kind, whatever order the topics deliver them in.

Every handler also bumps the read model's version, which open pages watch (server-sent events) to know
when to fetch again. Nothing here is published: the portal announces nothing.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from plan_events import (
    EnrollmentWithdrawn,
    Event,
    GreenCardEligible,
    InstitutionReinstated,
    InstitutionSuspended,
    OutcomeReported,
    SubsidyApproved,
    SubsidyRejected,
    SubsidyReversed,
    TierCompleted,
    TraineeEnrolled,
)
from plan_runtime.consumer import Many
from portal.store import PortalStore


def consumes() -> dict[type[Event], Many]:
    """What the portal reads, and where each event goes (registered once, in portal.main). Each store method takes a
    run of consecutive events at once (one statement for a cohort's thousands) and bumps the version once per batch."""

    def bumping(apply: Callable[[PortalStore, list[Any]], Awaitable[None]]) -> Many:
        async def handle(store: PortalStore, events: list[Any]) -> None:
            await apply(store, events)
            await store.bump_version()  # once per batch: the store is the batch's unit of work

        return Many(handle)

    enrolled, completed, outcome = (
        bumping(PortalStore.enrolled),
        bumping(PortalStore.completed),
        bumping(PortalStore.outcome),
    )
    withdrawn, standing, decided = (
        bumping(PortalStore.withdrawn),
        bumping(PortalStore.standing),
        bumping(PortalStore.decided),
    )
    reversed_, noticed = bumping(PortalStore.reversed), bumping(PortalStore.noticed)
    return {
        TraineeEnrolled: enrolled,
        TierCompleted: completed,
        OutcomeReported: outcome,
        EnrollmentWithdrawn: withdrawn,
        InstitutionSuspended: standing,
        InstitutionReinstated: standing,
        SubsidyApproved: decided,
        SubsidyRejected: decided,
        SubsidyReversed: reversed_,
        GreenCardEligible: noticed,
    }
