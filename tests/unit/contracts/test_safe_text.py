"""`Event._safe_text` (one join and one search per event) gives the verdicts of the function it replaced (a list of
(name, value) pairs first, then the join) on arbitrary text in every text field: the same events accepted, the same
fields named with the same character when refused."""

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from plan_events import EnrollmentWithdrawn, Tier
from plan_events.envelope import UNSAFE_TEXT

UNSAFE = ["\x00", "\x07", "\x0b", "\x0c", "\x1f", "\x7f", "\ud800", "\udbff", "\udc00", "\udfff"]
SAFE_EDGES = ["\t", "\n", "\r", " ", "\x80", "\u2028", "\ufeff", "\U0001f600"]
texts = st.text(
    st.characters(exclude_categories=()) | st.sampled_from(UNSAFE) | st.sampled_from(SAFE_EDGES), max_size=40
)


def old_verdict(values: dict[str, Any]) -> list[tuple[str, str]] | None:
    """The replaced function's verdict: None (accepted) or each unsafe text field with its first unsafe character."""
    pairs = [(name, value) for name, value in values.items() if isinstance(value, str)]
    if UNSAFE_TEXT.search("".join(value for _, value in pairs)) is None:
        return None
    return [
        (name, f"character U+{ord(found.group()):04X} is not allowed in an event")
        for name, value in pairs
        if (found := UNSAFE_TEXT.search(value))
    ]


def new_verdict(payload: dict[str, Any]) -> list[tuple[str, str]] | None:
    """`_safe_text`'s own verdict on the payload: validated by the model when pydantic itself accepts the text
    (it refuses some lone surrogates before any validator runs), else called on the unvalidated instance."""
    try:
        EnrollmentWithdrawn.model_validate(payload)
    except ValidationError as error:
        if any(e["type"] == "string_unicode" for e in error.errors()):
            try:
                EnrollmentWithdrawn.model_construct(**payload)._safe_text(SimpleNamespace(context=None))  # type: ignore[operator]
            except ValidationError as unsafe:
                return [(str(e["loc"][0]), str(e["ctx"]["error"])) for e in unsafe.errors()]
            return None
        return [(str(e["loc"][0]), str(e["ctx"]["error"])) for e in error.errors()]
    return None


@given(source=texts, subject=texts, trainee_id=texts, reason=texts)
@settings(max_examples=1_000)
def test_the_verdict_is_the_old_functions_on_any_text(source: str, subject: str, trainee_id: str, reason: str) -> None:
    event_id = uuid.uuid4()
    payload: dict[str, Any] = {
        "event_id": event_id,
        "occurred_at": datetime(2020, 9, 1, tzinfo=UTC),
        "source": source,
        "subject": subject,
        "correlation_id": event_id,
        "enrollment_id": uuid.uuid4(),
        "trainee_id": trainee_id,
        "institution_id": uuid.uuid4(),
        "tier": Tier.BASIC,
        "reason": reason,
    }
    # the values as the model holds them, field by field in its order (enums are str too, as before)
    unchecked = EnrollmentWithdrawn.model_construct(**payload)
    assert new_verdict(payload) == old_verdict(dict(unchecked.__dict__))


def test_a_refusal_names_each_unsafe_field_and_an_unsafe_character_split_across_fields_is_none() -> None:
    event_id = uuid.uuid4()
    payload: dict[str, Any] = {
        "event_id": event_id,
        "occurred_at": datetime(2020, 9, 1, tzinfo=UTC),
        "source": "enrollment\ud800",
        "subject": "\udc00tr-1",  # a surrogate pair only once joined: still two lone surrogates, both refused
        "correlation_id": event_id,
        "enrollment_id": uuid.uuid4(),
        "trainee_id": "tr-1",
        "institution_id": uuid.uuid4(),
        "tier": Tier.BASIC,
        "reason": "moved\x00away",
    }
    assert new_verdict(payload) == [
        ("source", "character U+D800 is not allowed in an event"),
        ("subject", "character U+DC00 is not allowed in an event"),
        ("reason", "character U+0000 is not allowed in an event"),
    ]
    assert new_verdict({**payload, "source": "enrollment", "subject": "tr-1", "reason": "moved away"}) is None
