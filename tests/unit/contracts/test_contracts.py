"""The event contracts: what is on the wire, and what never is."""

import json
import os
from pathlib import Path

import pytest

from plan_events import EVENTS, TOPICS, InvalidEvent, Undecodable, UnknownEvent, decode
from plan_events.asyncapi import document
from tests.support.plan import enrolment

SNAPSHOTS = Path(__file__).parent / "snapshots"
ROOT = Path(__file__).resolve().parents[3]
PERSONAL = ("id_number", "id_card", "national_id", "name", "full_name", "phone", "mobile")


@pytest.mark.parametrize("model", EVENTS, ids=lambda m: m.topic)
def test_each_event_schema_matches_its_reviewed_snapshot(model: type) -> None:
    schema = json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"  # type: ignore[attr-defined]
    snapshot = SNAPSHOTS / f"{model.topic}.json"  # type: ignore[attr-defined]
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(schema)
    assert snapshot.exists(), f"no snapshot for {model.topic}: run with UPDATE_SNAPSHOTS=1 and review"  # type: ignore[attr-defined]
    assert schema == snapshot.read_text(), "a contract changed: review it, then UPDATE_SNAPSHOTS=1"


@pytest.mark.parametrize("model", EVENTS, ids=lambda m: m.topic)
def test_no_event_carries_an_id_number_a_name_or_a_phone(model: type) -> None:
    fields = set(model.model_json_schema()["properties"])  # type: ignore[attr-defined]
    assert not fields & set(PERSONAL)


def test_one_topic_per_event_type_named_as_the_event() -> None:
    assert len(set(TOPICS)) == len(EVENTS)
    for model in EVENTS:
        assert model.topic == model.model_fields["type"].default or model.topic == "dead-letter"


def test_the_asyncapi_document_in_docs_is_generated_from_the_code() -> None:
    on_disk = json.loads((ROOT / "docs" / "asyncapi.json").read_text())
    assert on_disk == json.loads(json.dumps(document())), (
        "docs/asyncapi.json is stale: python -m plan_events.asyncapi > docs/asyncapi.json"
    )


def test_an_event_round_trips_through_bytes_with_its_envelope() -> None:
    event = enrolment()
    assert decode(event.to_bytes()) == event
    assert event.key() == event.subject.encode()
    assert event.correlation_id == event.event_id and event.causation_id is None


def test_a_caused_event_inherits_the_correlation_and_names_its_cause() -> None:
    cause = enrolment()
    effect = enrolment().create(
        source="x",
        subject="s",
        occurred_at=cause.occurred_at,
        caused_by=cause,
        **cause.model_dump(exclude={"event_id", "source", "subject", "occurred_at", "correlation_id", "causation_id"}),
    )
    assert effect.correlation_id == cause.correlation_id and effect.causation_id == cause.event_id


def test_a_consumer_ignores_fields_added_within_a_version() -> None:
    body = {**json.loads(enrolment().to_bytes()), "new_optional_field": 1}
    assert decode(json.dumps(body).encode()).type == "trainee-enrolled"


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        (b"\x00\xff", Undecodable, "not JSON"),
        (b"[1, 2]", Undecodable, "not a JSON object"),
        (b'{"type": "trainee-enrolled", "version": 2}', UnknownEvent, "v2"),
        (b'{"type": "subsidy-paid", "version": 1}', UnknownEvent, "subsidy-paid"),
        (b'{"type": "trainee-enrolled", "version": 1}', InvalidEvent, "event_id: Field required"),
    ],
)
def test_bad_bytes_are_refused_with_a_reason(raw: bytes, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        decode(raw)


def test_money_is_integer_yuan() -> None:
    from plan_events import SubsidyApproved

    schema = SubsidyApproved.model_json_schema()
    assert schema["properties"]["amount_yuan"]["type"] == "integer"
