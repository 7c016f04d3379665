"""Generated bulk withdrawals against the real service (PostgreSQL and Kafka through the service's own lifespan).

Whatever the rows (good ones, another institution's enrolment, an unknown id, the same enrolment twice, one already
completed, any text as a reason, surrogates and control characters included, lines that are not JSON objects):
the answer has a result per row, in the row numbers the parser gives; exactly the first good row for each open
enrolment of the caller is accepted; each accepted row leaves its enrolment withdrawn with its reason exactly, one
audit note and one event written in the same transaction; nothing else changes; sending the same upload again
withdraws nothing more. `WITHDRAWAL_EXAMPLES` sets the number of generated uploads (CI: 25; `make properties`: 300).
"""

import json
import os
import uuid
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from enrollment.cohort import RowError, parse
from enrollment.requests import WithdrawalItem
from tests.integration.conftest import Schema
from tests.integration.enrollment.test_enrollment_api import Enrollment, enrollment, institution  # noqa: F401
from tests.support.contracts.enrollment_store import trainee

EXAMPLES = int(os.environ.get("WITHDRAWAL_EXAMPLES", "25"))
OURS = 5  # enrolments of the uploading institution per example; the last is completed before the upload
ANY_TEXT = st.text(st.characters(exclude_categories=[]), max_size=40)  # surrogates too
GOOD_REASON = st.one_of(
    st.sampled_from(["moved away", "  found a job  ", "找到了工作", "r" * 500]),
    st.text(st.characters(categories=["L", "N", "Zs", "P", "S"]), min_size=3, max_size=30),
)
REASON = st.one_of(
    GOOD_REASON,  # most rows good: duplicates and already-withdrawn rows come up often
    GOOD_REASON,
    ANY_TEXT,
    st.text(max_size=3),
    st.sampled_from(["r" * 501, "a\x00b", "\ud800ab", "ab"]),
)
OPEN_ROW = st.tuples(st.just("ours"), st.integers(0, OURS - 2), GOOD_REASON)  # a good row for an open enrolment
ROW = st.one_of(
    OPEN_ROW,  # often: the same enrolment twice, and withdrawn rows next to refused ones
    OPEN_ROW,
    st.tuples(st.sampled_from(["ours", "theirs", "unknown"]), st.integers(0, OURS - 1), REASON),
    st.tuples(st.just("line"), st.just(0), ANY_TEXT.filter(lambda t: "\n" not in t)),  # any line at all
    st.tuples(st.just("fields"), st.integers(0, OURS - 1), st.dictionaries(st.text(max_size=8), ANY_TEXT, max_size=3)),
)


def line(kind: str, index: int, value: Any, ids: dict[str, list[str]]) -> str:
    if kind == "line":
        return str(value)
    if kind == "fields":  # an object with other fields, maybe with an id of ours among them
        return json.dumps({"enrollment_id": ids["ours"][index], **value} if index % 2 else value)
    return json.dumps({"enrollment_id": ids[kind][index % len(ids[kind])], "reason": value})


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rows=st.lists(ROW, min_size=1, max_size=14))
@example(rows=[("ours", 0, "moved away"), ("ours", 0, "again"), ("ours", 4, "done already"), ("theirs", 0, "x y z")])
async def test_a_generated_bulk_withdrawal_is_applied_row_by_row_once_and_whole(
    enrollment: Enrollment,  # noqa: F811 (the fixture, imported above)
    schema: Schema,
    rows: list[tuple[str, int, Any]],
) -> None:
    async with enrollment() as api:
        ours_headers, theirs_headers = (
            await institution(api, f"Leaving {uuid.uuid4().hex[:8]}"),
            await institution(api, f"Staying {uuid.uuid4().hex[:8]}"),
        )
        enrol = [(await api.post("/enrollments", json=trainee(), headers=ours_headers)) for _ in range(OURS)]
        other = await api.post("/enrollments", json=trainee(), headers=theirs_headers)
        ids = {
            "ours": [r.json()["id"] for r in enrol],
            "theirs": [other.json()["id"]],
            "unknown": ["00000000-0000-7000-8000-000000000000"],
        }
        done = await api.post(
            f"/enrollments/{ids['ours'][-1]}/completion",
            json={"completed_on": "2020-08-25", "passed": True},
            headers=ours_headers,
        )
        assert done.status_code == 200, done.text
        body = "\n".join(line(kind, index, value, ids) for kind, index, value in rows).encode("utf-8", "surrogatepass")
        headers = {**ours_headers, "Content-Type": "application/x-ndjson"}
        answer = await api.post("/withdrawals", content=body, headers=headers)
        again = await api.post("/withdrawals", content=body, headers=headers)
        after = {e: (await api.get(f"/enrollments/{e}", headers=ours_headers)).json() for e in ids["ours"]}
        theirs_after = (await api.get(f"/enrollments/{ids['theirs'][0]}", headers=theirs_headers)).json()

    # what should happen, row by row, from what the upload's parser reads in the same bytes
    parsed = parse(body, "application/x-ndjson", WithdrawalItem)
    open_ones = set(ids["ours"][:-1])
    expected: list[tuple[int, str | None]] = []
    withdrawn: dict[str, str] = {}
    for number, row in enumerate(parsed, start=1):
        if isinstance(row, RowError):
            expected.append((row.row, row.code))
            continue
        key = str(row.enrollment_id)
        if key in open_ones and key not in withdrawn:
            withdrawn[key] = row.reason
            expected.append((number, None))
        else:
            expected.append((number, "enrollment_not_open" if key in ids["ours"] else "enrollment_not_found"))
    assert answer.status_code == 200, answer.text
    result = answer.json()
    got = [(r["row"], None if r["accepted"] else r["error"]["code"]) for r in result["results"]]
    assert got == expected
    assert (result["rows"], result["accepted"]) == (len(parsed), len(withdrawn))
    assert again.status_code == 200 and again.json()["accepted"] == 0  # nothing applied twice
    for key, found in after.items():
        if key in withdrawn:
            assert (found["status"], found["withdrawn_reason"]) == ("withdrawn", withdrawn[key])
        else:
            assert found["status"] == ("completed" if key == ids["ours"][-1] else "open")
    assert theirs_after["status"] == "open"
    # the audit notes and the events were written with the rows, once each
    notes = await schema.pool.fetch(
        "SELECT subject, reason FROM audit_log WHERE action = 'withdraw' AND subject = ANY($1::text[])", ids["ours"]
    )
    assert sorted((n["subject"], n["reason"]) for n in notes) == sorted(withdrawn.items())
    events = await schema.pool.fetch(
        "SELECT value FROM outbox WHERE topic = 'enrollment-withdrawn'"
        " UNION ALL SELECT value FROM outbox_published WHERE topic = 'enrollment-withdrawn'"
    )
    announced = [json.loads(e["value"]) for e in events]
    announced = [(e["enrollment_id"], e["reason"]) for e in announced if e["enrollment_id"] in ids["ours"]]
    assert sorted(announced) == sorted(withdrawn.items())
