"""Hostile uploads against the enrollment service as a real process (issue 11, item 1 and its memory check).

The service runs as its own uvicorn process, on a free port and a fresh database (`talentplan_uploads`).
Every refusal is a 4xx with the error envelope and a stable code, answered before the whole body was sent;
nothing of a refused upload is written; and the process's resident memory stays under 300 MiB while 200 MB
are sent at it chunked -- its peak (VmHWM) grows by far less than the body, which it would not if any body
were buffered whole.
"""

import asyncio
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from benchmarks.upload_memory import (
    CSV_HEADER,
    CSV_ROW,
    DATABASE,
    Answer,
    csv_rows,
    free_port,
    institution_key,
    memory,
    post,
    repeated,
    start_enrollment,
)
from infra import kafka, postgres, secrets
from tests.infrastructure import real_infrastructure
from tests.support.people import id_number

MB = 1_000_000


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with real_infrastructure() as infra:
        if infra.kafka != kafka.BOOTSTRAP:
            pytest.fail("this tier runs the service on the local infrastructure (`make test`)")
        port = free_port()
        process = start_enrollment(DATABASE, port, tmp_path_factory.mktemp("uploads") / "enrollment.log")
        try:
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def refused(answer: Answer, status: int, code: str, field: str) -> None:
    assert (answer.status, answer.code) == (status, code), answer
    assert answer.body["error"]["field"] == field and answer.body["error"]["message"]
    assert answer.early, f"answered only after the whole body: {answer}"


async def enrolments(key: str) -> int:
    conn = await asyncpg.connect(postgres.service_url("enrollment", DATABASE))
    try:
        institution = await conn.fetchval("SELECT institution_id FROM api_keys WHERE id = $1", key.split("_")[1])
        count = await conn.fetchval("SELECT count(*) FROM enrollments WHERE institution_id = $1", institution)
        return int(count)
    finally:
        await conn.close()


def test_hostile_uploads_are_refused_early_with_their_codes_and_write_nothing(service: tuple[str, int]) -> None:
    url, _ = service
    key = institution_key(url)
    auth, csv = {"X-API-Key": key}, {"Content-Type": "text/csv"}
    jsonl = {"Content-Type": "application/x-ndjson"}

    # a wrong key of either kind, and no key: 401 before the body is read, whatever its size
    for headers in ({"X-API-Key": "not-a-key"}, {"X-API-Key": f"inst_{'0' * 32}_secret"}, {}):
        answer = post(url, "/cohorts", {**headers, **csv}, *csv_rows(500_000), declare_length=False)
        refused(answer, 401, "unauthorized", "X-API-Key")
        assert answer.sent < 10 * MB  # of 49.5: what the sockets buffered before the answer came

    # more rows than an upload may have: 413 too_many_rows at row 50,001, the rest never read
    answer = post(url, "/cohorts", {**auth, **csv}, *csv_rows(200_000), declare_length=False)
    refused(answer, 413, "too_many_rows", "body")
    assert "50000" in answer.body["error"]["message"]
    for path in ("/completions", "/withdrawals"):  # bulk routes too: 12 MB read up to row 50,001, not 413 at once
        answer = post(url, path, {**auth, **jsonl}, repeated(b'{"a": 1}\n', 12 * MB), 12 * MB, True)
        refused(answer, 413, "too_many_rows", "body")

    # a declared length over the bulk limit: 413 at once; a 30 MB single-line CSV, chunked: refused at its line
    refused(
        post(url, "/cohorts", {**auth, **csv}, *csv_rows(400_000), declare_length=True), 413, "body_too_large", "body"
    )
    line = post(url, "/cohorts", {**auth, **csv}, repeated(b"x", 30 * MB, CSV_HEADER), 30 * MB, False)
    refused(line, 422, "invalid_upload", "body")
    assert "longer than" in line.body["error"]["message"]

    # a field over the csv module's limit (131,072 characters) made of short lines: 422, not a 500
    field = b'"' + b"y" * 1_000 + (b"\n" + b"y" * 1_000) * 200 + b'"'
    body = CSV_HEADER + CSV_ROW.replace(b"cashmere and fur", field) * 2
    with httpx.Client(base_url=url, timeout=60) as http:
        answer_field = http.post("/cohorts", content=body, headers={**auth, **csv})
        assert answer_field.status_code == 422, answer_field.text
        assert answer_field.json()["error"]["code"] == "invalid_upload"
        # and a good upload still works: the limits refuse only what they must
        good = CSV_HEADER + CSV_ROW.replace(b"130102199808080014", id_number().encode())
        accepted = http.post("/cohorts", content=good, headers={**auth, **csv})
        assert accepted.status_code == 200 and accepted.json()["accepted"] == 1, accepted.text

    assert asyncio.run(enrolments(key)) == 1  # only the good upload's row: nothing of any refused upload


def test_memory_stays_bounded_while_200_mb_uploads_are_refused(service: tuple[str, int]) -> None:
    url, pid = service
    key = institution_key(url)
    before = memory(pid)
    size = 200 * MB
    answers = [
        # 200 MB of JSON lines, chunked: refused at row 50,001 (a few MB in)
        post(
            url,
            "/cohorts",
            {"X-API-Key": key, "Content-Type": "application/x-ndjson"},
            repeated(b'{"a": 1}\n', size),
            size,
            False,
        ),
        # one 200 MB JSON line, chunked: skipped as it arrives, refused at the 16 MiB bulk limit
        post(
            url,
            "/cohorts",
            {"X-API-Key": key, "Content-Type": "application/x-ndjson"},
            repeated(b"x", size, b'{"n": "'),
            size,
            False,
        ),
        # 200 MB JSON to a single-record route, chunked: refused at its 256 KiB limit
        post(
            url,
            "/enrollments",
            {"X-API-Key": key, "Content-Type": "application/json"},
            repeated(b" ", size, b"{"),
            size,
            False,
        ),
        # unauthenticated and wrongly authenticated 200 MB: 401 before any byte of the body is read
        post(url, "/enrollments", {"Content-Type": "application/json"}, repeated(b" ", size, b"{"), size, False),
        post(
            url,
            "/cohorts",
            {"X-API-Key": secrets.load()["FINANCE_API_KEY"], "Content-Type": "text/csv"},
            *csv_rows(size // len(CSV_ROW)),
            False,
        ),
    ]
    after = memory(pid)
    assert [a.status for a in answers] == [413, 413, 413, 401, 401], answers
    assert [a.code for a in answers] == ["too_many_rows", "body_too_large", "body_too_large"] + ["unauthorized"] * 2
    assert all(a.early and a.sent < 30 * MB for a in answers), [(a.status, a.sent) for a in answers]
    assert after["VmHWM"] < 300, (before, after)
    # 1 GB was offered: had any of these bodies been buffered whole, the peak would have grown by 200 MB or more
    assert after["VmHWM"] - before["VmRSS"] < 150, (before, after)
