"""Every event type, its topic and the versions consumers accept; decoding at the edge."""

from __future__ import annotations

import json

from pydantic import ValidationError

from plan_events.dead_letter import MessageDeadLettered
from plan_events.enrollment import (
    EnrollmentWithdrawn,
    InstitutionReinstated,
    InstitutionSuspended,
    OutcomeReported,
    TierCompleted,
    TraineeEnrolled,
)
from plan_events.envelope import TEXT_CHECKED, UNSAFE_TEXT, Event
from plan_events.funding import SubsidyApproved, SubsidyRejected, SubsidyReversed
from plan_events.talent_card import GreenCardEligible

EVENTS: tuple[type[Event], ...] = (
    TraineeEnrolled,
    TierCompleted,
    OutcomeReported,
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


MAX_DEPTH = 32  # our events nest two levels; anything deeper is not one of them
MAX_INT_DIGITS = 30  # a yuan amount or an offset has far fewer; Python refuses > 4,300 digits anyway
MAX_REASON = 1_000  # characters of a reason kept for people


def _bounded_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS + 1:
        raise ValueError(f"an integer of {len(text)} characters")
    return int(text)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: object) -> int:
    """How deeply lists and objects nest, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


_DECODER = json.JSONDecoder(parse_int=_bounded_int, parse_constant=_no_constant)
"""One decoder for every call: `json.loads(..., parse_int=...)` built a new one (and its scanner) each time."""


def load_json(raw: bytes | str) -> object:
    """json.loads with bounds: raises ValueError (with the reason) for bad UTF-8, bad JSON, huge integers,
    NaN/Infinity, and nesting deeper than MAX_DEPTH or than the parser's recursion limit."""
    return _load(raw)[0]


def _load(raw: bytes | str) -> tuple[object, str]:
    """`load_json`, and the text it parsed."""
    try:
        if isinstance(raw, str):  # what json.loads does before it decodes, with the same errors
            if raw.startswith("\ufeff"):
                raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", raw, 0)
            text = raw
        else:  # an object's `{` then a non-zero byte is what json.detect_encoding calls UTF-8, without the call
            utf8 = raw[:1] == b"{" and raw[1:2] != b"\x00"
            text = raw.decode("utf-8" if utf8 else json.detect_encoding(raw), "surrogatepass")
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{type(error).__name__}: {str(error)[:200]}") from error
    # each level of nesting opens with a `{` or `[` of the text (counting those inside strings too only
    # overcounts): with no more of them than MAX_DEPTH the value cannot be deeper, and is not walked
    if text.count("{") + text.count("[") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return value, text


def decode(raw: bytes | None, expected: tuple[type[Event], ...] = EVENTS, topic: str | None = None) -> Event:
    """Parse a Kafka value into its contract, or raise one of the errors above with the reason.

    Whatever the bytes, only these three errors come out: bad UTF-8, bad JSON, huge integers, NaN,
    nesting deeper than the C parser's recursion limit or than MAX_DEPTH are all `Undecodable`."""
    try:
        body, text = _load(raw or b"")
    except ValueError as error:
        raise Undecodable(f"not JSON: {error}") from error
    if not isinstance(body, dict):
        raise Undecodable("not a JSON object")
    kind, version = body.get("type"), body.get("version")
    model = _BY_TYPE_AND_VERSION.get((str(kind), version)) if isinstance(version, int) else None
    if model is None or model not in expected:
        raise UnknownEvent(f"unknown event type/version: {str(kind)[:100]!r} v{repr(version)[:20]}")
    if topic is not None and model.topic != topic:  # each type has its topic: elsewhere it is not that event
        raise UnknownEvent(f"a {model.topic} event does not belong on topic {topic[:100]!r}")
    # every string of the body is a piece of the text, unless it holds an escape: with no backslash and no unsafe
    # character in the whole text, no field can hold one, and the model does not look again field by field. The
    # parser refuses raw control characters in strings (and outside them allows only tab, LF, CR), so of an ASCII
    # text only DEL is left to look for
    checked = "\\" not in text and "\x7f" not in text and (text.isascii() or UNSAFE_TEXT.search(text) is None)
    try:
        return model.model_validate(body, context=TEXT_CHECKED if checked else None)
    except ValidationError as error:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise InvalidEvent(f"invalid {kind} v{version}: {fields}"[:MAX_REASON]) from error
    except Exception as error:  # a validator that fails in another way is still this message's fault
        raise InvalidEvent(f"invalid {kind} v{version}: {type(error).__name__}: {str(error)[:200]}") from error
