"""Any bytes on any topic: the decoder answers with an event or one of its three errors, never anything else."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from plan_events import EVENTS, Event, InvalidEvent, Undecodable, UnknownEvent, decode
from tests.support.plan import completion, enrolment

VALID = [enrolment().to_bytes(), completion(enrolment()).to_bytes()]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def outcome(raw: bytes | None) -> Event | Exception:
    try:
        return decode(raw)
    except (Undecodable, UnknownEvent, InvalidEvent) as error:
        return error


@given(st.binary(max_size=2_000) | st.none())
@settings(max_examples=500)
def test_any_bytes_decode_or_fail_with_a_reason(raw: bytes | None) -> None:
    assert isinstance(outcome(raw), Event | Undecodable | UnknownEvent | InvalidEvent)


@given(
    st.sampled_from(VALID), st.dictionaries(st.sampled_from(["type", "version", "tier", "event_id", "x"]), json_values)
)
@settings(max_examples=500)
def test_any_json_shape_over_a_valid_event_decodes_or_fails_with_a_reason(raw: bytes, changes: dict) -> None:  # type: ignore[type-arg]
    body = {**json.loads(raw), **changes}
    result = outcome(json.dumps(body).encode())
    assert isinstance(result, Event | Undecodable | UnknownEvent | InvalidEvent)
    assert not isinstance(result, Exception) or len(str(result)) <= 1_000


def test_huge_numbers_deep_nesting_and_nan_are_undecodable_not_crashes() -> None:
    cases = {
        b'{"type": 1' + b"0" * 5_000 + b"}": "integer of",
        b"[" * 100_000 + b"]" * 100_000: "RecursionError",
        b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}": "nested deeper",
        b'{"type": NaN}': "NaN",
        b'{"type": -Infinity}': "Infinity",
        b"\xc3\x28 {}": "UnicodeDecodeError",
    }
    for raw, reason in cases.items():
        result = outcome(raw)
        assert isinstance(result, Undecodable) and reason in str(result), (raw[:20], result)


def test_every_valid_event_still_decodes() -> None:
    assert {type(decode(raw)) for raw in VALID} <= set(EVENTS)


def test_an_event_on_another_type_s_topic_is_not_that_event() -> None:
    raw = completion(enrolment()).to_bytes()
    assert decode(raw, topic="tier-completed").type == "tier-completed"
    result = outcome_on(raw, "institution-reinstated")
    assert isinstance(result, UnknownEvent) and "does not belong on topic" in str(result)


def outcome_on(raw: bytes, topic: str) -> Event | Exception:
    try:
        return decode(raw, topic=topic)
    except (Undecodable, UnknownEvent, InvalidEvent) as error:
        return error
