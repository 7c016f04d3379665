"""Tables as the pages show them, and the same rows as CSV and XLSX: one definition, three forms.

A page handler builds `Table`s; the page template renders them with `macros.table`, and `?export=<id>&format=
csv|xlsx` on the same page URL sends one of them as a file (portal.web.page does that), so a download always
holds exactly the numbers on the screen.
"""

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from portal.i18n import gettext

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # an English message id (marked with N_), translated when shown
    kind: str = "text"  # text | int | yuan | pct | date | datetime | code (a code shown translated: code.<value>)
    # | reason (a code when it is one, else a person's free text, shown as written)
    link: Callable[[dict[str, Any]], str | None] | None = None  # the cell links to this URL (pages only)


@dataclass
class Table:
    id: str  # unique on its page; the export's file name
    title: str  # an English message id
    columns: Sequence[Column]
    rows: list[dict[str, Any]]
    empty: str = "Nothing yet."
    note: str | None = None  # an English message id shown under the title
    actions: list[str] = field(default_factory=list)  # names of row-action macros the template knows

    def value(self, row: dict[str, Any], column: Column) -> Any:
        """A cell as it is exported: numbers stay numbers, codes are translated, everything else is text."""
        raw = row.get(column.key)
        if raw is None:
            return ""
        if column.kind in ("int", "yuan"):
            return int(raw)
        if column.kind == "pct":
            return float(raw)
        if column.kind in ("code", "reason"):
            return translate_code(str(raw))
        if isinstance(raw, datetime):
            return raw.isoformat(timespec="seconds")
        if isinstance(raw, date | UUID | Decimal):
            return str(raw)
        return raw

    def display(self, row: dict[str, Any], column: Column) -> str:
        """A cell as the page shows it."""
        raw = row.get(column.key)
        if raw is None or raw == "":
            return "—"
        if column.kind == "int":
            return f"{int(raw):,}"
        if column.kind == "yuan":
            return f"¥{int(raw):,}"
        if column.kind == "pct":
            return f"{float(raw) * 100:.1f}%"
        if column.kind == "datetime" and isinstance(raw, datetime):
            return raw.strftime("%Y-%m-%d %H:%M")
        return str(self.value(row, column))


def translate_code(code: str) -> str:
    msgid = f"code.{code}"
    text = gettext(msgid)
    return code if text == msgid else text


def to_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark: Excel on a Chinese Windows opens it as UTF-8 only with one."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([gettext(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_safe(table.value(row, c)) for c in table.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula is prefixed with a quote (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_xlsx(table: Table) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=table.id[:31])
    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, value=gettext(column.label))
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        values = []
        for column in table.columns:
            value = table.value(row, column)
            values.append(_xlsx_text(value) if isinstance(value, str) else value)
        sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_text(value: str) -> str:
    """A text cell of the workbook: neutralised like CSV's, and without the control characters XML 1.0 cannot
    hold (openpyxl refuses them: one such character in a name made the whole download fail)."""
    return str(ILLEGAL_CHARACTERS_RE.sub("\ufffd", _csv_safe(value)))


def export(table: Table, fmt: str) -> tuple[bytes, str]:
    return (to_csv(table) if fmt == "csv" else to_xlsx(table)), FORMATS[fmt]
