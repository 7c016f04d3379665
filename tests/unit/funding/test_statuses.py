"""The statuses the code speaks are exactly those the database's CHECK constraints allow."""

import re
from enum import StrEnum
from pathlib import Path

import pytest

import funding
from funding.domain import BatchStatus, EntryKind, InstitutionStatus, SubsidyStatus

MIGRATIONS = Path(funding.__file__).parent / "migrations"


def checked_values() -> dict[tuple[str, str], set[str]]:
    """(table, column) -> the values its `CHECK (column IN (...))` allows, as the migrations leave it."""
    found: dict[tuple[str, str], set[str]] = {}
    for path in sorted(MIGRATIONS.glob("[0-9]*.sql")):
        sql = re.sub(r"--[^\n]*", "", path.read_text())
        for statement in sql.split(";"):
            table = re.search(r"(?:CREATE|ALTER) TABLE (\w+)", statement)
            for column, values in re.findall(r"CHECK \((\w+) IN\s*\(([^)]*)\)", statement):
                assert table, statement
                found[(table.group(1), column)] = set(re.findall(r"'([^']*)'", values))
    return found


@pytest.mark.parametrize(
    ("table", "column", "enum"),
    [
        ("subsidies", "status", SubsidyStatus),
        ("payment_batches", "status", BatchStatus),
        ("institutions", "status", InstitutionStatus),
        ("ledger", "entry", EntryKind),
    ],
)
def test_each_status_enum_is_its_check_constraint(table: str, column: str, enum: type[StrEnum]) -> None:
    assert checked_values()[(table, column)] == {member.value for member in enum}
