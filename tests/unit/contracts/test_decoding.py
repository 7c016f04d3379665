"""Any bytes on any topic: the decoder answers with an event or one of its three errors, never anything else."""

import json
import uuid
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from plan_events import (
    EVENTS,
    Event,
    GreenCardEligible,
    InvalidEvent,
    MessageDeadLettered,
    Outcome,
    OutcomeReported,
    SubsidyRejected,
    SubsidyReversed,
    Undecodable,
    UnknownEvent,
    decode,
)
from plan_events.catalogue import _decode_exactly, _decode_plain, _load, _load_exactly
from tests.support.plan import VILLAGE_ROOM, approval, completion, enrolment, reinstatement, suspension, withdrawal

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


def _samples() -> list[Event]:
    """One event of every type, as its producer writes it."""
    enrolled = enrolment()
    done = completion(enrolled)
    said = {"source": "funding", "subject": done.trainee_id, "occurred_at": done.occurred_at, "caused_by": done}
    claim = {k: getattr(done, k) for k in ("trainee_id", "institution_id", "tier")}
    return [
        enrolled,
        done,
        withdrawal(enrolled),
        approval(done),
        suspension(VILLAGE_ROOM, 3),
        reinstatement(VILLAGE_ROOM, 4),
        OutcomeReported.create(
            **{**said, "source": "enrollment"}, **claim, enrollment_id=done.enrollment_id, outcome=Outcome.EMPLOYED
        ),
        SubsidyRejected.create(
            **said, **claim, enrollment_id=done.enrollment_id, reason="duplicate_claim", policy_version="2020-08-v2"
        ),
        SubsidyReversed.create(**said, **claim, subsidy_id=uuid.uuid4(), amount_yuan=5000, reason="audit"),
        GreenCardEligible.create(
            source="talent-card",
            subject="p-1",
            occurred_at=done.occurred_at,
            notice_id=uuid.uuid4(),
            person_id="p-1",
            route="plan",
            rule_id="r-1",
            rule_version="1",
            evidence=["a", "b"],
        ),
        MessageDeadLettered.create(
            source="funding",
            subject="k",
            occurred_at=done.occurred_at,
            consumer="funding",
            original_topic="tier-completed",
            original_partition=2,
            original_offset=7,
            original_key=None,
            raw_base64="e30=",
            error="invalid",
        ),
    ]


SAMPLES = _samples()
field_values = json_values | st.sampled_from(
    [
        "basic",
        "senior",
        "2020-08-08",
        "2020-08-08T09:00:00Z",
        "2020-08-08T09:00:00+08:00",
        "2020-02-30",
        str(uuid.uuid4()),
        str(uuid.uuid4()).upper(),
        uuid.uuid4().hex,
        "1",
        "1.0",
        "true",
        1,
        1.0,
        0,
        -1,
        True,
        2**31,
        10**30,
        -(10**30),
        10**31,
        -(10**31),
        10**40,
        float("nan"),
        float("inf"),
        float("-inf"),
        1e30,
        "x" * 600,
        "é",
        "\x7f",
        "\u2028",
        "a\\u0000",
        "employed",
        [],
        ["a"],
        ["a", ["b"]],
        [[[]]] * 2,
        json.loads("[" * 40 + "]" * 40),
        {},
        {"a": [1]},
        None,
    ]
)  # each field's own kinds of value, near misses, what lax validation converts, and what the exact parser refuses


def _spelled(event: Event, changes: dict[str, object], ascii_only: bool, tail: str) -> bytes:
    """The event as its producer writes it (envelope first), with some fields changed or added, and raw text
    (duplicate keys, extra fields of any kind) before its closing brace."""
    body = {**json.loads(event.to_bytes()), **changes}
    text = json.dumps(body, ensure_ascii=ascii_only, separators=(",", ":"))
    return (text[:-1] + tail + "}").encode("utf-8", "surrogatepass")


def _either(call: Callable[[], Event]) -> object:
    try:
        event = call()
    except (Undecodable, UnknownEvent, InvalidEvent) as error:
        return (type(error).__name__, str(error))
    return (type(event).__name__, event.model_dump(mode="json"), event)


tails = st.sampled_from(
    [
        "",
        ',"x":NaN',
        ',"x":-Infinity',
        ',"x":1e999',
        ',"x":' + "1" * 31,
        ',"x":' + "[" * 40 + "]" * 40,
        ',"tier":"basic"',
        ',"version":2',
        ',"type":"tier-completed"',
        ',"event_id":"nope"',
        ',"x":"\\ud800"',
        ',"x":"\\u0041"',
        ',"x":{"type":"tier-completed","version":1}',
        ",",
        ',"x":"\x01"',
    ]
) | st.builds(lambda k, v: f",{json.dumps(k)}:{json.dumps(v)}", st.text(max_size=6), json_values)


def _same(raw: bytes, topic: str | None) -> None:
    fast = _either(lambda: decode(raw, topic=topic))
    exact = _either(lambda: _decode_exactly(raw, EVENTS, topic))
    assert fast[:2] == exact[:2], raw[:300]
    if len(fast) == 3:
        assert type(fast[2]) is type(exact[2]) and fast[2] == exact[2]  # type: ignore[index]


@given(st.data())
@settings(max_examples=3_000)
def test_the_one_call_path_decides_as_the_exact_path_on_any_change_to_an_event(data: st.DataObject) -> None:
    """Our producers' events are validated from their bytes in one call (`_decode_plain`); whatever its own fields
    hold, whatever is added after them, the event (every field, its exact type) or the error is the one the exact
    path gives."""
    event = data.draw(st.sampled_from(SAMPLES))
    fields = sorted(type(event).model_fields)
    changes = data.draw(st.dictionaries(st.sampled_from([*fields, "x"]), field_values, max_size=3))
    raw = _spelled(event, changes, data.draw(st.booleans()), data.draw(st.just("") | tails))
    _same(raw, data.draw(st.sampled_from([None, event.topic, "tier-completed"])))


def test_every_field_of_every_event_holding_what_the_exact_parser_refuses_is_decided_alike() -> None:
    """Each field of each type set in turn to each value whose handling differs between the parsers (huge
    integers, NaN, Infinity, deep nesting) or that the text check must see (DEL and a control character, raw or
    escaped), and each of them as an extra field."""
    hostile = [10**40, -(10**40), 10**31, -(10**31), 10**30, float("nan"), float("-inf"), 1e400,
               json.loads("[" * 40 + "]" * 40), "\x7f", "a\x01", "\ud800", "é\x7f"]  # fmt: skip
    for event in SAMPLES:
        for field in [*type(event).model_fields, "x"]:
            for value in hostile:
                for ascii_only in (True, False):
                    _same(_spelled(event, {field: value}, ascii_only, ""), event.topic)


def test_every_event_as_its_producer_writes_it_takes_the_one_call_path() -> None:
    """So the comparisons above are not vacuous: every type has a sample, and each sample, as its producer writes
    it, is decoded by the one call (a new type, or a new kind of field, is compared as soon as it has one)."""
    assert {type(event) for event in SAMPLES} == set(EVENTS)
    for event in SAMPLES:
        raw = event.to_bytes()
        assert _decode_plain(raw, EVENTS, event.topic) == event, type(event).__name__
        assert _decode_plain(raw.replace(b"}", b',"x":NaN}', 1), EVENTS, None) is None
        assert _decode_plain(raw, (), None) is None
