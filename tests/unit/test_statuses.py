"""The vocabularies in code are the vocabularies the schema accepts: each StrEnum equals its column's
`CHECK (column IN (...))`, as the migrations leave it, and every such CHECK in every service is pinned here."""

import re
from enum import StrEnum
from pathlib import Path

import pytest

import enrollment
import funding
import talent_card
from enrollment.domain import EnrollmentStatus, InstitutionMode
from enrollment.domain import InstitutionStatus as EnrollmentInstitutionStatus
from funding.domain import BatchStatus, EntryKind, SubsidyStatus
from funding.domain import InstitutionStatus as FundingInstitutionStatus
from plan_events import Mode, Outcome, Tier
from talent_card.domain import EvidenceKind, EvidenceStatus, NoticeStatus

PINNED: dict[str, dict[tuple[str, str], type[StrEnum]]] = {
    enrollment.__name__: {
        ("institutions", "status"): EnrollmentInstitutionStatus,
        ("institutions", "mode"): InstitutionMode,
        ("enrollments", "status"): EnrollmentStatus,
        ("enrollments", "tier"): Tier,
        ("enrollments", "mode"): Mode,
        ("enrollments", "outcome"): Outcome,
    },
    funding.__name__: {
        ("subsidies", "status"): SubsidyStatus,
        ("payment_batches", "status"): BatchStatus,
        ("institutions", "status"): FundingInstitutionStatus,
        ("ledger", "entry"): EntryKind,
    },
    talent_card.__name__: {
        ("evidence", "kind"): EvidenceKind,
        ("evidence", "status"): EvidenceStatus,
        ("notices", "status"): NoticeStatus,
    },
}
PACKAGES = {package.__name__: package for package in (enrollment, funding, talent_card)}


def checked_values(migrations: Path) -> dict[tuple[str, str], set[str]]:
    """(table, column) -> the values its `CHECK (column IN (...))` allows, the last migration to say so winning."""
    found: dict[tuple[str, str], set[str]] = {}
    for path in sorted(migrations.glob("[0-9]*.sql")):
        sql = re.sub(r"--[^\n]*", "", path.read_text())
        for statement in sql.split(";"):
            table = re.search(r"(?:CREATE|ALTER) TABLE (\w+)", statement)
            for column, values in re.findall(r"CHECK \((\w+) IN\s*\(([^)]*)\)", statement):
                assert table, statement
                found[(table.group(1), column)] = set(re.findall(r"'([^']*)'", values))
    return found


def migrations_of(service: str) -> Path:
    return Path(PACKAGES[service].__file__ or "").parent / "migrations"


@pytest.mark.parametrize(
    ("service", "column", "vocabulary"),
    [(service, column, vocabulary) for service, pins in PINNED.items() for column, vocabulary in pins.items()],
    ids=lambda value: value if isinstance(value, str) else getattr(value, "__name__", str(value)),
)
def test_each_vocabulary_is_its_columns_check(service: str, column: tuple[str, str], vocabulary: type[StrEnum]) -> None:
    assert checked_values(migrations_of(service))[column] == {member.value for member in vocabulary}


@pytest.mark.parametrize("service", list(PINNED))
def test_every_check_of_a_list_is_pinned(service: str) -> None:
    assert set(checked_values(migrations_of(service))) == set(PINNED[service])
