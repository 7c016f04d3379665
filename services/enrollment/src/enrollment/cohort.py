"""Bulk uploads (cohorts, completions): CSV with a header or JSON lines, parsed row by row as the body arrives.

A bad row never spoils the rest: it becomes a RowError with its number, field and reason.

The upload as a whole is refused (CohortError, with a stable code) when it cannot be read: a wrong content
type, a CSV header without the required columns, a CSV line over MAX_LINE characters or a field over the csv
module's limit, a broken quote (422 `invalid_upload`), or more than MAX_ROWS rows (413 `too_many_rows`, as
soon as row MAX_ROWS + 1 is read: the rest of the body is never read). `parse_stream` runs the parser in a
worker thread, which pulls the body's chunks from the event loop as it needs them: the event loop stays free
and the body is never buffered whole (one line at a time, at most MAX_LINE characters).
"""

import asyncio
import codecs
import csv
import ctypes
import ctypes.util
import sys
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from pydantic import BaseModel, ValidationError

from enrollment.requests import EnrolRequest
from plan_events.catalogue import load_json
from plan_runtime.errors import Invalid, TooLarge

MAX_ROWS = 50_000
MAX_LINE = 64 * 1024  # characters in one line; a row is well under 1 KiB (fields are bounded)
PARSERS = 8  # uploads parsed at once, each in a worker thread of its own (not the default pool's)
_parsers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter]" = weakref.WeakKeyDictionary()
Row = TypeVar("Row", bound=BaseModel)


@dataclass(frozen=True)
class RowError:
    row: int
    code: str
    field: str | None
    message: str

    def refusal(self) -> Invalid:
        return Invalid(self.code, self.message, self.field)


class CohortError(Invalid):
    """The upload as a whole cannot be read (wrong format, no header, a line or field too long): the body is
    at fault."""

    code = "invalid_upload"

    def __init__(self, message: str) -> None:
        super().__init__(type(self).code, message, "body")


class TooManyRows(TooLarge, CohortError):
    """More rows than an upload may have."""

    code = "too_many_rows"


class _LongLine:
    """In place of a line over MAX_LINE characters (skipped up to its end, never held)."""

    def __init__(self, number: int) -> None:
        self.number = number


class _Uploads:
    """The bulk uploads in flight in this process. When the last one has been answered, what they freed is handed
    back to the system (glibc's `malloc_trim`): an upload of 5,000 rows holds about 35 MiB while it runs, and
    without this a worker that once ran three at once kept 10-15 MiB more at the end of the plan
    (docs/performance.md, tenth round). Only then: a trim walks the heap (milliseconds), once per busy spell."""

    def __init__(self) -> None:
        self.in_flight = 0
        path = ctypes.util.find_library("c") if sys.platform == "linux" else None
        self._trim = getattr(ctypes.CDLL(path), "malloc_trim", None) if path else None

    async def slot(self) -> AsyncIterator[None]:
        """A FastAPI dependency of each bulk route, held until the request is done."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            if self.in_flight == 0 and self._trim is not None:
                self._trim(0)


uploads = _Uploads()


def parse(body: bytes, content_type: str, model: type[Row] = EnrolRequest) -> list[Row | RowError]:  # type: ignore[assignment]
    """A whole body at once (tests, small uploads); the service uses `parse_stream`."""
    return parse_chunks([body], content_type, model)


async def parse_stream(
    chunks: AsyncIterator[bytes],
    content_type: str,
    model: type[Row] = EnrolRequest,  # type: ignore[assignment]
    max_rows: int = MAX_ROWS,
) -> list[Row | RowError]:
    """Parse off the event loop, as the body arrives: the worker thread asks the loop for the next chunk."""

    async def next_chunk() -> bytes | None:
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return None

    def body() -> Iterator[bytes]:
        while (chunk := anyio.from_thread.run(next_chunk)) is not None:
            if chunk:
                yield chunk

    # a limiter of their own (per event loop): slow uploaders never starve the default pool (sync dependencies)
    limiter = _parsers.setdefault(asyncio.get_running_loop(), anyio.CapacityLimiter(PARSERS))
    return await anyio.to_thread.run_sync(parse_chunks, body(), content_type, model, max_rows, limiter=limiter)


def parse_chunks(
    chunks: Iterable[bytes],
    content_type: str,
    model: type[Row] = EnrolRequest,  # type: ignore[assignment]
    max_rows: int = MAX_ROWS,
) -> list[Row | RowError]:
    if "csv" in content_type:
        records = _csv(_lines(chunks), model)
    elif "ndjson" in content_type or "jsonl" in content_type or "json" in content_type:
        records = _json_lines(_lines(chunks))
    else:
        raise CohortError(f"send text/csv or application/x-ndjson, not {content_type or 'nothing'}")
    rows: list[Row | RowError] = []
    for number, record in enumerate(records, start=1):
        if number > max_rows:
            raise TooManyRows(f"more than {max_rows} rows: at most {max_rows} per upload (max_rows)")
        rows.append(_row(number, record, model))
    return rows


def _lines(chunks: Iterable[bytes]) -> Iterator[str | _LongLine]:
    """The body's lines (split on LF, ends kept), decoded as UTF-8 as they arrive; a line over MAX_LINE
    characters becomes a _LongLine and the rest of it is skipped, never held."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    pending, number, skipping = "", 0, False
    for chunk in chunks:
        *complete, pending = (pending + decoder.decode(chunk)).split("\n")
        for line in complete:
            if skipping:  # the end of a long line, already reported
                skipping = False
                continue
            number += 1
            yield _LongLine(number) if len(line) >= MAX_LINE else line + "\n"
        if len(pending) >= MAX_LINE:  # a line still growing past the limit: report it once, skip the rest
            if not skipping:
                number += 1
                yield _LongLine(number)
            skipping, pending = True, ""
    pending += decoder.decode(b"", final=True)
    if pending and not skipping:
        yield _LongLine(number + 1) if len(pending) >= MAX_LINE else pending


def _csv(lines: Iterator[str | _LongLine], model: type[BaseModel]) -> Iterator[dict[str, object] | RowError]:
    def text() -> Iterator[str]:
        for line in lines:
            if isinstance(line, _LongLine):  # inside a quoted field or not: the CSV cannot be resynchronised
                raise CohortError(f"line {line.number} of the CSV is longer than {MAX_LINE} characters")
            yield line

    reader = csv.DictReader(text())
    try:
        columns = [name for name, f in model.model_fields.items() if f.is_required()]
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise CohortError(f"the CSV header lacks {', '.join(missing)} (columns: {', '.join(model.model_fields)})")
        for row in reader:
            yield {k: v for k, v in row.items() if k is not None and v not in ("", None)}
    except csv.Error as error:  # a field over the csv module's limit, a broken quote: the upload cannot be read
        raise CohortError(f"the CSV cannot be read near line {reader.line_num}: {error}") from error


def _json_lines(lines: Iterator[str | _LongLine]) -> Iterator[dict[str, object] | RowError]:
    number = 0
    for line in lines:
        if isinstance(line, _LongLine):
            number += 1
            yield RowError(number, "invalid_row", None, f"line longer than {MAX_LINE} characters")
            continue
        if not line.strip():
            continue
        number += 1
        try:
            value = load_json(line)
        except ValueError as error:
            yield RowError(number, "invalid_row", None, f"not JSON: {error}")
            continue
        if not isinstance(value, dict):
            yield RowError(number, "invalid_row", None, "each line must be a JSON object")
            continue
        yield value


def _row(number: int, record: dict[str, object] | RowError, model: type[Row]) -> Row | RowError:
    if isinstance(record, RowError):
        return record
    try:
        return model.model_validate(record)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        code = "invalid_id_number" if field == "id_number" else "invalid_field"
        return RowError(number, code, field, f"{field}: {first['msg']}")
