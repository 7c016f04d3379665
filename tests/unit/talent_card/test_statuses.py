"""The statuses code uses are the ones the SQL CHECK constraints allow: read from the migrations."""

import re
from enum import StrEnum
from pathlib import Path

import pytest

import talent_card
from talent_card.domain import EvidenceKind, EvidenceStatus, NoticeStatus

MIGRATIONS = Path(talent_card.__file__).parent / "migrations"


def checks() -> dict[tuple[str, str], set[str]]:
    """(table, column) -> the values of its `CHECK (column IN (...))`, over every migration."""
    found: dict[tuple[str, str], set[str]] = {}
    for sql in sorted(MIGRATIONS.glob("*.sql")):
        for table, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", sql.read_text(), re.S):
            for column, values in re.findall(r"CHECK \((\w+) IN \(([^)]*)\)\)", body):
                found[table, column] = set(re.findall(r"'([^']*)'", values))
    return found


@pytest.mark.parametrize(
    ("table", "column", "enum"),
    [
        ("evidence", "kind", EvidenceKind),
        ("evidence", "status", EvidenceStatus),
        ("notices", "status", NoticeStatus),
    ],
)
def test_each_status_enum_equals_its_check_constraint(table: str, column: str, enum: type[StrEnum]) -> None:
    assert checks()[table, column] == {member.value for member in enum}


def test_every_check_list_in_the_migrations_has_its_enum() -> None:
    assert set(checks()) == {("evidence", "kind"), ("evidence", "status"), ("notices", "status")}
