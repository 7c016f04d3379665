"""Every event type, its topic and the versions consumers accept; decoding at the edge."""

from __future__ import annotations

import json

from pydantic import ValidationError

from plan_events.dead_letter import MessageDeadLettered
from plan_events.enrollment import (
    EnrollmentWithdrawn,
    InstitutionReinstated,
    InstitutionSuspended,
    TierCompleted,
    TraineeEnrolled,
)
from plan_events.envelope import Event
from plan_events.funding import SubsidyApproved, SubsidyRejected, SubsidyReversed
from plan_events.talent_card import GreenCardEligible

EVENTS: tuple[type[Event], ...] = (
    TraineeEnrolled,
    TierCompleted,
    EnrollmentWithdrawn,
    InstitutionSuspended,
    InstitutionReinstated,
    SubsidyApproved,
    SubsidyRejected,
    SubsidyReversed,
    GreenCardEligible,
    MessageDeadLettered,
)

_BY_TYPE_AND_VERSION: dict[tuple[str, int], type[Event]] = {
    (model.model_fields["type"].default, model.model_fields["version"].default): model for model in EVENTS
}

TOPICS: tuple[str, ...] = tuple(model.topic for model in EVENTS)


class Undecodable(ValueError):
    """The bytes are not a JSON object with a `type` and a `version`."""


class UnknownEvent(ValueError):
    """A type or version this code does not know: dead-lettered, never guessed at."""


class InvalidEvent(ValueError):
    """A known type and version whose body breaks its contract."""


def decode(raw: bytes | None, expected: tuple[type[Event], ...] = EVENTS) -> Event:
    """Parse a Kafka value into its contract, or raise one of the errors above with the reason."""
    try:
        body = json.loads(raw or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Undecodable(f"not JSON: {error}") from error
    if not isinstance(body, dict):
        raise Undecodable("not a JSON object")
    kind, version = body.get("type"), body.get("version")
    model = _BY_TYPE_AND_VERSION.get((str(kind), version)) if isinstance(version, int) else None
    if model is None or model not in expected:
        raise UnknownEvent(f"unknown event type/version: {kind!r} v{version!r}")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise InvalidEvent(f"invalid {kind} v{version}: {fields}") from error
