"""Bulk uploads (cohorts, completions): CSV with a header or JSON lines, parsed row by row.

A bad row never spoils the rest: it becomes a RowError with its number, field and reason.
"""

import csv
import io
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from enrollment.requests import EnrolRequest
from plan_events.catalogue import load_json

MAX_ROWS = 50_000
Row = TypeVar("Row", bound=BaseModel)


@dataclass(frozen=True)
class RowError:
    row: int
    code: str
    field: str | None
    message: str

    def error(self) -> dict[str, Any]:
        return {"code": self.code, "field": self.field, "message": self.message, "status": 422}


class CohortError(ValueError):
    """The upload as a whole cannot be read (wrong format, no header, too many rows)."""


def parse(body: bytes, content_type: str, model: type[Row] = EnrolRequest) -> list[Row | RowError]:  # type: ignore[assignment]
    text = body.decode("utf-8-sig", errors="replace")
    if "csv" in content_type:
        records = _csv(text, model)
    elif "ndjson" in content_type or "jsonl" in content_type or "json" in content_type:
        records = _json_lines(text)
    else:
        raise CohortError(f"send text/csv or application/x-ndjson, not {content_type or 'nothing'}")
    if len(records) > MAX_ROWS:
        raise CohortError(f"{len(records)} rows: at most {MAX_ROWS} per upload")
    return [_row(number, record, model) for number, record in enumerate(records, start=1)]


def _csv(text: str, model: type[BaseModel]) -> list[dict[str, object] | RowError]:
    try:
        reader = csv.DictReader(io.StringIO(text))
        columns = [name for name, f in model.model_fields.items() if f.is_required()]
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise CohortError(f"the CSV header lacks {', '.join(missing)} (columns: {', '.join(model.model_fields)})")
        records: list[dict[str, object] | RowError] = []
        for row in reader:
            records.append({k: v for k, v in row.items() if k is not None and v not in ("", None)})
            if len(records) > MAX_ROWS:
                break
        return records
    except csv.Error as error:  # a field over the csv module's limit, a broken quote: the upload cannot be read
        raise CohortError(f"the CSV cannot be read near line {reader.line_num}: {error}") from error


def _json_lines(text: str) -> list[dict[str, object] | RowError]:
    records: list[dict[str, object] | RowError] = []
    for number, line in enumerate((ln for ln in text.splitlines() if ln.strip()), start=1):
        if number > MAX_ROWS:
            records.append(RowError(number, "invalid_row", None, "too many rows"))
            break
        try:
            value = load_json(line)
        except ValueError as error:
            records.append(RowError(number, "invalid_row", None, f"not JSON: {error}"))
            continue
        records.append(
            value
            if isinstance(value, dict)
            else RowError(number, "invalid_row", None, "each line must be a JSON object")
        )
    return records


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
