"""Uploads are parsed off the event loop while they stream in: a row limit stops the reading at once."""

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from enrollment.cohort import MAX_LINE, CohortError, RowError, TooManyRows, parse_stream
from enrollment.requests import EnrolRequest
from plan_runtime.http import status_of
from tests.support.people import id_number

HEADER = "id_number,name,phone,target_group,tier,mode,starts_on,niche\n"


def row() -> str:
    return f"{id_number()},Liu Jiaqi,13800138000,rural_household,basic,offline,2020-08-08,cashmere and fur\n"


class Body:
    """An upload arriving in chunks, counting what the parser pulled and on which thread."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks, self.sent, self.threads = chunks, 0, set[str]()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.threads.add(threading.current_thread().name)
            self.sent += 1
            await asyncio.sleep(0)
            yield chunk


async def test_rows_split_anywhere_across_chunks_parse_as_one_body() -> None:
    text = (HEADER + "".join(row() for _ in range(50))).encode()
    chunks = [text[i : i + 7] for i in range(0, len(text), 7)]  # cut inside rows and UTF-8 sequences alike
    parsed = await parse_stream(Body(chunks).__aiter__(), "text/csv", EnrolRequest)
    assert len(parsed) == 50 and all(isinstance(p, EnrolRequest) for p in parsed)


async def test_parsing_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()
    original = EnrolRequest.model_validate

    def spy(value: object) -> EnrolRequest:
        seen.add(threading.current_thread().name)
        return original(value)

    monkeypatch.setattr(EnrolRequest, "model_validate", spy)

    async def chunks() -> AsyncIterator[bytes]:
        yield (HEADER + row()).encode()

    parsed = await parse_stream(chunks(), "text/csv", EnrolRequest)
    assert isinstance(parsed[0], EnrolRequest)
    assert seen and threading.current_thread().name not in seen  # validated in a worker thread


async def test_the_row_limit_stops_reading_at_row_limit_plus_one() -> None:
    body = Body([HEADER.encode()] + [row().encode() for _ in range(1_000)])
    with pytest.raises(TooManyRows, match="at most 10 ") as refused:
        await parse_stream(body.__aiter__(), "text/csv", EnrolRequest, max_rows=10)
    assert status_of(refused.value) == 413 and refused.value.code == "too_many_rows"
    assert body.sent <= 13  # the header, 11 rows and at most one more chunk: never the remaining 989


async def test_a_line_over_the_limit_is_refused_without_being_held() -> None:
    huge = [b"x" * 65_536 for _ in range(500)]  # 32 MiB on one line
    body = Body([HEADER.encode(), *huge])
    with pytest.raises(CohortError, match=f"longer than {MAX_LINE}"):
        await parse_stream(body.__aiter__(), "text/csv", EnrolRequest)
    assert body.sent <= 3
    jsonl = Body([b'{"a": "' + b"y" * 100_000, b'"}\n{"b": 1}\n'])
    rows = await parse_stream(jsonl.__aiter__(), "application/x-ndjson", EnrolRequest)
    assert len(rows) == 2 and isinstance(rows[0], RowError) and (rows[0].row, rows[0].code) == (1, "invalid_row")
