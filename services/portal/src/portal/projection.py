"""The read model, fed by events: one short upsert per event, whatever order the topics deliver them in.

Every handler also bumps the read model's version, which open pages watch (server-sent events) to know
when to fetch again. Nothing here is published: the portal announces nothing.
"""

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
from plan_runtime.consumer import Handler
from portal.store import PortalStore


async def on_trainee_enrolled(store: PortalStore, event: TraineeEnrolled) -> None:
    await store.enrolled(event)


async def on_tier_completed(store: PortalStore, event: TierCompleted) -> None:
    await store.completed(event)


async def on_outcome_reported(store: PortalStore, event: OutcomeReported) -> None:
    await store.outcome(event)


async def on_enrollment_withdrawn(store: PortalStore, event: EnrollmentWithdrawn) -> None:
    await store.withdrawn(event)


async def on_institution_status(store: PortalStore, event: InstitutionSuspended | InstitutionReinstated) -> None:
    await store.standing(event)


async def on_subsidy_decided(store: PortalStore, event: SubsidyApproved | SubsidyRejected) -> None:
    await store.decided(event)


async def on_subsidy_reversed(store: PortalStore, event: SubsidyReversed) -> None:
    await store.reversed(event)


async def on_green_card_eligible(store: PortalStore, event: GreenCardEligible) -> None:
    await store.noticed(event)


def _bumping(handler: Any) -> Handler:
    async def handle(store: PortalStore, event: Event) -> None:
        await handler(store, event)
        await store.bump_version()  # once per batch: the store is the batch's unit of work

    return handle


def consumes() -> dict[type[Event], Handler]:
    """What the portal reads, and where each event goes (registered once, in portal.main)."""
    return {
        model: _bumping(handler)
        for model, handler in (
            (TraineeEnrolled, on_trainee_enrolled),
            (TierCompleted, on_tier_completed),
            (OutcomeReported, on_outcome_reported),
            (EnrollmentWithdrawn, on_enrollment_withdrawn),
            (InstitutionSuspended, on_institution_status),
            (InstitutionReinstated, on_institution_status),
            (SubsidyApproved, on_subsidy_decided),
            (SubsidyRejected, on_subsidy_decided),
            (SubsidyReversed, on_subsidy_reversed),
            (GreenCardEligible, on_green_card_eligible),
        )
    }
