"""Cohort files: every row gets its own verdict; the file as a whole is refused only if unreadable."""

import json

import pytest

from enrollment.cohort import CohortError, RowError, parse
from enrollment.requests import EnrolRequest
from tests.support.people import id_number

HEADER = "id_number,name,phone,target_group,tier,mode,starts_on,niche\n"


def row(number: str | None = None, phone: str = "13800138000") -> str:
    return f"{number or id_number()},Liu Jiaqi,{phone},rural_household,basic,offline,2020-08-08,cashmere and fur\n"


def good_row() -> dict[str, str]:
    return {
        "id_number": id_number(),
        "name": "Jin Zhe",
        "phone": "13900139000",
        "target_group": "college_graduate",
        "tier": "basic",
        "mode": "online",
        "starts_on": "2020-08-08",
    }


def test_good_and_bad_csv_rows_are_told_apart_by_row_number() -> None:
    parsed = parse((HEADER + row() + row("123") + row(phone="12345")).encode(), "text/csv")
    assert isinstance(parsed[0], EnrolRequest)
    assert parsed[1] == RowError(2, "invalid_id_number", "id_number", parsed[1].message)  # type: ignore[union-attr]
    assert isinstance(parsed[2], RowError) and parsed[2].field == "phone"


def test_json_lines_with_a_broken_line_keep_the_others() -> None:
    good = good_row()
    body = "\n".join([json.dumps(good), "{not json", json.dumps({**good, "tier": "expert"})])
    parsed = parse(body.encode(), "application/x-ndjson")
    assert isinstance(parsed[0], EnrolRequest)
    assert isinstance(parsed[1], RowError) and parsed[1].code == "invalid_row"
    assert isinstance(parsed[2], RowError) and parsed[2].field == "tier"


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [(b"a,b\n1,2\n", "text/csv", "lacks id_number"), (b"x", "application/pdf", "text/csv")],
)
def test_an_unreadable_upload_is_refused_whole(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(CohortError, match=message):
        parse(body, content_type)


def test_hostile_cells_and_lines_are_row_errors_not_crashes() -> None:
    good = good_row()
    lines = [
        json.dumps({**good, "name": "Jin\x00Zhe"}),  # PostgreSQL refuses NUL in text: refused here, by field
        json.dumps({**good, "niche": "bell\x07"}),
        '{"id_number": 1' + "0" * 5_000 + "}",  # an integer past Python's limit
        "[" * 50_000 + "]" * 50_000,  # nesting past the parser's recursion limit
        '{"a": ' + "[" * 40 + "]" * 40 + "}",
        json.dumps(good),
    ]
    parsed = parse("\n".join(lines).encode(), "application/x-ndjson")
    assert [(p.code, p.field) if isinstance(p, RowError) else "ok" for p in parsed] == [
        ("invalid_field", "name"),
        ("invalid_field", "niche"),
        ("invalid_row", None),
        ("invalid_row", None),
        ("invalid_row", None),
        "ok",
    ]
    nul_csv = (HEADER + row().replace("Liu Jiaqi", "Liu\x00Jiaqi") + row()).encode()
    assert [type(p).__name__ for p in parse(nul_csv, "text/csv")] == ["RowError", "EnrolRequest"]


@pytest.mark.parametrize(
    "body",
    [
        (HEADER + row().replace("cashmere and fur", "x" * 200_000)).encode(),  # past the csv module's field limit
        (HEADER + '"unclosed' + "y" * 200_000).encode(),
        b"\x00" * 1000,
    ],
)
def test_a_csv_the_csv_module_cannot_read_is_refused_whole_with_a_reason(body: bytes) -> None:
    with pytest.raises(CohortError):
        parse(body, "text/csv")
