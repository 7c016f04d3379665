"""portal.tables (one table: the page, CSV and XLSX) and portal.i18n (the language of a request)."""

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from portal import i18n
from portal.tables import FORMATS, Column, Table, export, to_csv, to_xlsx, translate_code

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(autouse=True)
def chinese() -> Iterator[None]:
    token = i18n.LANG.set("zh")
    yield
    i18n.LANG.reset(token)


def english() -> Any:
    return i18n.LANG.set("en")


def a_table(rows: list[dict[str, Any]] | None = None) -> Table:
    return Table(
        id="subsidies",
        title="Subsidies",
        columns=[
            Column("institution", "Institution"),
            Column("tier", "Tier", "code"),
            Column("count", "Count", "int"),
            Column("yuan", "Yuan", "yuan"),
            Column("rate", "Rate", "pct"),
            Column("day", "Day", "date"),
            Column("at", "At", "datetime"),
        ],
        rows=rows
        if rows is not None
        else [
            {
                "institution": '=HYPERLINK("http://evil")',
                "tier": "senior",
                "count": 12,
                "yuan": Decimal("10800"),
                "rate": 0.25,
                "day": date(2020, 8, 8),
                "at": datetime(2020, 8, 8, 9, 30, tzinfo=UTC),
            },
            {"institution": "Cashmere Town 羊绒小镇", "tier": "basic", "count": 0, "yuan": 0, "rate": None},
        ],
    )


def csv_of(table: Table) -> list[list[str]]:
    data = to_csv(table)
    assert data.startswith("\ufeff".encode()), "Excel on a Chinese Windows needs the byte-order mark"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_of(table: Table) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(to_xlsx(table)))
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def test_csv_has_a_bom_translated_headers_and_the_values_as_exported() -> None:
    rows = csv_of(a_table())
    headers = rows[0]
    assert headers == [i18n.gettext(c.label) for c in a_table().columns]
    assert rows[1] == ["'=HYPERLINK(\"http://evil\")", translate_code("senior"), "12", "10800", "0.25", "2020-08-08",
                       "2020-08-08T09:30:00+00:00"]  # fmt: skip
    assert rows[2][:5] == ["Cashmere Town 羊绒小镇", translate_code("basic"), "0", "0", ""]
    assert translate_code("senior") != "senior"  # codes.po translates it


def test_xlsx_keeps_numbers_as_numbers_and_text_as_text() -> None:
    rows = xlsx_of(a_table())
    assert rows[0] == [i18n.gettext(c.label) for c in a_table().columns]
    assert rows[1][0] == '\'=HYPERLINK("http://evil")'  # text, never a formula
    assert rows[1][1] == translate_code("senior")
    assert rows[1][2:5] == [12, 10800, 0.25]
    assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in rows[1][2:5])
    assert rows[2][2:4] == [0, 0]
    book = load_workbook(io.BytesIO(to_xlsx(a_table())))
    assert book.worksheets[0].title == "subsidies"
    assert all(cell.data_type != "f" for row in book.worksheets[0].iter_rows() for cell in row)


def test_in_english_the_headers_are_the_message_ids_and_codes_stay_codes() -> None:
    token = english()
    try:
        rows = csv_of(a_table())
        assert rows[0] == ["Institution", "Tier", "Count", "Yuan", "Rate", "Day", "At"]
        assert rows[1][1] == "senior"
    finally:
        i18n.LANG.reset(token)


@pytest.mark.parametrize("start", [*FORMULA_STARTS])
def test_every_formula_start_is_neutralised_in_both_files(start: str) -> None:
    table = a_table([{"institution": f"{start}1+1", "tier": "basic"}])
    assert csv_of(table)[1][0] == f"'{start}1+1"
    assert xlsx_of(table)[1][0] == f"'{start}1+1".replace("\r", "\n")  # XML reads a CR as a line feed


def test_negative_numbers_are_numbers_not_neutralised_text() -> None:
    table = a_table([{"count": -3, "yuan": -900}])
    assert csv_of(table)[1][2:4] == ["-3", "-900"]
    assert xlsx_of(table)[1][2:4] == [-3, -900]


def test_the_page_shows_cells_formatted() -> None:
    table = a_table()
    row, cols = table.rows[0], {c.key: c for c in table.columns}
    assert table.display(row, cols["count"]) == "12"
    assert table.display({"count": 1234567}, cols["count"]) == "1,234,567"
    assert table.display(row, cols["yuan"]) == "¥10,800"
    assert table.display(row, cols["rate"]) == "25.0%"
    assert table.display(row, cols["at"]) == "2020-08-08 09:30"
    assert table.display(row, cols["tier"]) == translate_code("senior")
    assert table.display({}, cols["count"]) == "—"
    assert table.display({"institution": ""}, cols["institution"]) == "—"


def test_an_empty_table_exports_its_headers() -> None:
    assert csv_of(a_table([])) == [[i18n.gettext(c.label) for c in a_table().columns]]
    assert xlsx_of(a_table([])) == [[i18n.gettext(c.label) for c in a_table().columns]]


def test_export_answers_the_media_type_of_the_format() -> None:
    for fmt, media in FORMATS.items():
        body, kind = export(a_table(), fmt)
        assert kind == media and body


TEXT = st.text(max_size=60)
CELL = st.one_of(
    TEXT,
    st.integers(min_value=-(10**15), max_value=10**15),
    st.none(),
    st.uuids(),
    st.dates(),
)


@given(texts=st.lists(TEXT, min_size=1, max_size=5), numbers=st.lists(st.integers(-(10**12), 10**12), min_size=1))
def test_any_text_and_any_number_survive_both_exports(texts: list[str], numbers: list[int]) -> None:
    """Whatever a name holds (quotes, commas, newlines, control characters, CJK, RTL marks, surrogates cannot
    come from a database), a download is made, text stays text (neutralised when a spreadsheet would run it)
    and numbers stay numbers."""
    rows = [{"institution": t, "count": numbers[i % len(numbers)]} for i, t in enumerate(texts)]
    table = Table("t", "Subsidies", [Column("institution", "Institution"), Column("count", "Count", "int")], rows)
    from_csv = csv_of(table)[1:]
    from_xlsx = xlsx_of(table)[1:]
    for row, text_csv, text_xlsx in zip(rows, from_csv, from_xlsx, strict=True):
        text, number = row["institution"], row["count"]
        expected = "'" + text if text[:1] in FORMULA_STARTS else text
        assert text_csv == [expected, str(number)]
        in_xml = ILLEGAL_CHARACTERS_RE.sub("\ufffd", expected).replace("\r\n", "\n").replace("\r", "\n")
        assert (text_xlsx[0] or "") == in_xml  # XML 1.0 holds no control character, and reads a CR as a LF
        assert text_xlsx[1] == number


@given(value=CELL)
def test_a_cell_of_any_kind_exports(value: object) -> None:
    table = Table("t", "Subsidies", [Column("v", "Value")], [{"v": value}])
    assert to_csv(table) and to_xlsx(table)


# --- the language of a request --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "lang"),
    [
        (None, "zh"),
        ("zh", "zh"),
        ("en", "en"),
        ("fr", "zh"),
        ("", "zh"),
        ("EN", "zh"),
        ("en;", "zh"),
        ("x" * 999, "zh"),
    ],
)
def test_chinese_is_the_default_and_an_unknown_language_is_chinese(cookie: str | None, lang: str) -> None:
    assert i18n.pick(cookie) == lang


def test_a_fresh_context_speaks_chinese() -> None:
    import contextvars

    assert contextvars.Context().run(i18n.LANG.get) == "zh"
    assert i18n.DEFAULT == "zh"


def test_gettext_translates_in_chinese_and_keeps_english() -> None:
    assert i18n.gettext("Log in") != "Log in"
    assert i18n.gettext("A message id nobody translated") == "A message id nobody translated"
    token = english()
    try:
        assert i18n.gettext("Log in") == "Log in"
    finally:
        i18n.LANG.reset(token)


def test_error_message_falls_back_to_the_apis_words_and_names_the_code_in_chinese() -> None:
    assert i18n.error_message("unauthorized", "X-API-Key is missing") == i18n.gettext("error.unauthorized")
    assert "X-API-Key" not in i18n.error_message("unauthorized", "X-API-Key is missing")
    assert i18n.error_message("brand_new_code", "the API's words") == "the API's words (brand_new_code)"
    assert i18n.error_message("", "the API's words") == "the API's words"
    token = english()
    try:
        assert i18n.error_message("unauthorized", "X-API-Key is missing") == "X-API-Key is missing"
        assert i18n.error_message("brand_new_code", "the API's words") == "the API's words"
    finally:
        i18n.LANG.reset(token)


def test_uuid_date_and_decimal_cells_are_text_in_the_files() -> None:
    some = UUID(int=7)
    table = Table(
        "t",
        "T",
        [Column("a", "A"), Column("b", "B"), Column("c", "C")],
        [{"a": some, "b": date(2021, 1, 2), "c": Decimal("1.5")}],
    )
    assert csv_of(table)[1] == [str(some), "2021-01-02", "1.5"]
    assert xlsx_of(table)[1] == [str(some), "2021-01-02", "1.5"]
