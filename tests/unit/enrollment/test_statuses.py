"""The vocabularies in code are the vocabularies the schema accepts: each StrEnum equals its CHECK (... IN (...))."""

import re
from enum import StrEnum
from pathlib import Path

import pytest

import enrollment
from enrollment.domain import EnrollmentStatus, InstitutionMode, InstitutionStatus
from plan_events import Mode, Outcome, Tier

MIGRATIONS = Path(enrollment.__file__).parent / "migrations"
TABLE = re.compile(r"CREATE TABLE (\w+) \((.*?)\n\);", re.S)
CHECK = re.compile(r"^\s*(\w+)\s.*CHECK \(\1 IN \(([^)]*)\)\)", re.M)


def checks() -> dict[tuple[str, str], set[str]]:
    """(table, column): the values its CHECK allows, from every migration."""
    found = {}
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        for table, body in TABLE.findall(migration.read_text()):
            for column, values in CHECK.findall(body):
                found[table, column] = {v.strip().strip("'") for v in values.split(",")}
    return found


@pytest.mark.parametrize(
    ("table", "column", "vocabulary"),
    [
        ("institutions", "status", InstitutionStatus),
        ("institutions", "mode", InstitutionMode),
        ("enrollments", "status", EnrollmentStatus),
        ("enrollments", "tier", Tier),
        ("enrollments", "mode", Mode),
        ("enrollments", "outcome", Outcome),
    ],
)
def test_each_vocabulary_is_its_columns_check(table: str, column: str, vocabulary: type[StrEnum]) -> None:
    assert checks()[table, column] == {v.value for v in vocabulary}


def test_every_check_of_a_list_is_pinned() -> None:
    assert set(checks()) == {
        ("institutions", "status"),
        ("institutions", "mode"),
        ("enrollments", "status"),
        ("enrollments", "tier"),
        ("enrollments", "mode"),
        ("enrollments", "outcome"),
    }
