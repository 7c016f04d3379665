"""Ids we create are time-ordered (UUID version 7): every index keyed on them is appended to at its right edge.

This is a performance property (docs/performance.md, "Sixth round"), pinned here because a change back to random
ids would fail no behaviour test: it would only make every inbox, outbox and enrolment index slower to write."""

import time

from plan_events.ids import new_id
from tests.support.plan import enrolment


def test_new_ids_are_version_7_and_sort_in_the_order_they_were_made() -> None:
    made = []
    for _ in range(5):
        made += [new_id() for _ in range(1_000)]
        time.sleep(0.002)  # several milliseconds, not only the counter within one
    assert {i.version for i in made} == {7}
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_an_event_made_without_an_id_gets_a_time_ordered_one() -> None:
    first = enrolment()
    time.sleep(0.002)
    second = enrolment()
    assert first.event_id.version == second.event_id.version == 7
    assert first.event_id < second.event_id
    assert first.correlation_id == first.event_id
