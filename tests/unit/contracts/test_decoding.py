"""Any bytes on any topic: the decoder answers with an event or one of its three errors, never anything else."""

import json
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from plan_events import EVENTS, Event, InvalidEvent, Undecodable, UnknownEvent, decode
from plan_events.catalogue import _load, _load_exactly
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


def _canonical(value: object) -> object:
    """A value's exact form: a float is not an int, -0.0 is not 0.0, an object's keys in any order."""
    if isinstance(value, dict):
        return ("object", sorted((key, _canonical(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("array", [_canonical(item) for item in value])
    return (type(value).__name__, repr(value))


def _parsed(load: Callable[[bytes | str], tuple[object, str]], raw: bytes | str) -> object:
    try:
        value, text = load(raw)
    except ValueError as error:
        return ("refused", str(error))
    return (_canonical(value), text)


numbers = st.integers(min_value=-(10**40), max_value=10**40).map(str) | st.sampled_from(
    ["1e400", "-1E-400", "0.1", "-0", "-0.0", "1.5e3", "NaN", "Infinity", "-Infinity", "01", "1.", ".5", "1" * 31]
)
texts = st.one_of(
    st.builds(
        lambda value, ascii_only, spaced: json.dumps(value, ensure_ascii=ascii_only, indent=1 if spaced else None),
        st.dictionaries(st.text(max_size=8), json_values, max_size=5),
        st.booleans(),
        st.booleans(),
    ),
    st.builds(  # numbers and constants the standard library writes or refuses, in an object
        lambda key, number, tail: f'{{"{key}": {number}{tail}}}',
        st.text(max_size=3),
        numbers,
        st.sampled_from(["", ","]),
    ),
    st.builds(lambda depth: '{"a":' + "[" * depth + "1" + "]" * depth + "}", st.integers(0, 300)),
)


@given(
    texts.map(lambda text: text.encode("utf-8", "surrogatepass"))
    | st.binary(max_size=200).map(lambda b: b"{" + b)
    | texts  # an upload's JSON line: a text
    | st.text(max_size=60).map(lambda text: "{" + text)
)
@settings(max_examples=2_000)
def test_the_fast_parser_reads_what_the_exact_one_reads_and_refuses_with_its_reasons(raw: bytes | str) -> None:
    """Events (bytes) and upload lines (texts) are parsed by pydantic-core's parser when plain, by the standard
    library's otherwise: on any input, the value (its exact types) and the reason for a refusal are the same."""
    assert _parsed(_load, raw) == _parsed(_load_exactly, raw)


@given(st.lists(st.binary(max_size=40) | texts.map(str.encode), min_size=1, max_size=4).map(b"".join))
@settings(max_examples=500)
def test_the_fast_parser_reads_what_the_exact_one_reads_on_glued_fragments(raw: bytes) -> None:
    assert _parsed(_load, raw) == _parsed(_load_exactly, raw)
