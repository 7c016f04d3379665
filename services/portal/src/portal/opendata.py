"""The open-data page's numbers: aggregates only, with every cell that counts fewer than 5 people suppressed.

Pure (no I/O): the public page gives it the read model's counts and shows what comes back.

Suppression, in two steps:

1. *primary*: a cell counting fewer than `THRESHOLD` people (0 included) is shown as "<5";
2. *secondary*: a table's cells add up to its published total row, so a single suppressed cell in a column could
   be worked out by subtraction (total minus the others). Whenever a column holds exactly one suppressed cell,
   the smallest cell still shown in that column is suppressed too; repeated until no column has exactly one.

The same suppressed values go to the page, the charts (a gap) and the CSV/XLSX downloads.
"""

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

THRESHOLD = 5
SUPPRESSED = "<5"
TOTAL = "total"
TIERS = ("basic", "professional", "senior")
TARGET_GROUPS = ("college_graduate", "vocational_graduate", "unemployed", "rural_household", "other")

K = TypeVar("K", bound=Hashable)
Cell = int | str


def protect(cells: Mapping[K, int], groups: Iterable[Collection[K]], threshold: int = THRESHOLD) -> dict[K, Cell]:
    """Each cell's value as published: the count itself, or SUPPRESSED.

    `groups`: sets of cells whose sum is published (a column above its total row); in none of them is exactly
    one cell suppressed, so no suppressed cell can be worked out from the others and the total. Deterministic:
    among equal candidates the first one in the group's order is suppressed."""
    hidden = {key for key, value in cells.items() if value < threshold}
    groups = [list(g) for g in groups]
    changed = True
    while changed:
        changed = False
        for group in groups:
            inside = [key for key in group if key in cells]
            if sum(key in hidden for key in inside) != 1:
                continue
            shown = [key for key in inside if key not in hidden]
            if not shown:
                continue
            smallest = min(shown, key=lambda key: cells[key])  # min keeps the first of equal values
            hidden.add(smallest)
            changed = True
    return {key: (SUPPRESSED if key in hidden else value) for key, value in cells.items()}


def protected_table(rows: Sequence[Mapping[str, Any]], key: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows (`key` plus integer `columns`) with a total row appended (key TOTAL), every column protected: the
    column's cells form a group whose sum is the published total."""
    table = [dict(row) for row in rows]
    totals = {column: sum(int(row.get(column) or 0) for row in table) for column in columns}
    cells: dict[tuple[int, str], int] = {}
    for index, row in enumerate(table):
        for column in columns:
            cells[(index, column)] = int(row.get(column) or 0)
    last = len(table)
    for column in columns:
        cells[(last, column)] = totals[column]
    groups = [[(index, column) for index in range(len(table))] for column in columns]
    published = protect(cells, groups)
    out: list[dict[str, Any]] = []
    for index, row in enumerate([*table, {key: TOTAL}]):
        shaped = {key: row[key]}
        shaped.update({column: published[(index, column)] for column in columns})
        out.append(shaped)
    return out


def chart_value(cell: Cell) -> int | None:
    """A published cell in a chart: a suppressed one is a gap (ECharts draws nothing for null)."""
    return cell if isinstance(cell, int) else None


def _sum_into(found: dict[Any, dict[str, int]], key: Any, values: Mapping[str, int]) -> None:
    into = found.setdefault(key, {})
    for name, value in values.items():
        into[name] = into.get(name, 0) + int(value or 0)


def by_tier(counts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """store.counts() rows → one row per tier (all three, even without enrolments): enrolled, completed
    (passed), withdrawn; protected, with the total row."""
    found: dict[Any, dict[str, int]] = {tier: {} for tier in TIERS}
    for row in counts:
        _sum_into(found, row["tier"], {c: row[c] for c in ("enrolled", "completed", "withdrawn")})
    rows = [{"tier": tier, **values} for tier, values in found.items()]
    return protected_table(rows, "tier", ("enrolled", "completed", "withdrawn"))


def by_target_group(counts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """store.counts(by="target_group") rows (per tier) → one row per target group, tiers added up."""
    found: dict[Any, dict[str, int]] = {group: {} for group in TARGET_GROUPS}
    for row in counts:
        _sum_into(found, row["key"] or "unknown", {c: row[c] for c in ("enrolled", "completed", "withdrawn")})
    rows = [{"target_group": group, **values} for group, values in found.items()]
    return protected_table(rows, "target_group", ("enrolled", "completed", "withdrawn"))


def by_month(starts: Iterable[Mapping[str, Any]], completions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Enrolments by the month their course started and passed completions by the month they ended (tiers
    added up; store.counts(by="start_month") and by="completion_month"), month by month, oldest first."""
    found: dict[str, dict[str, int]] = {}
    for row in starts:
        if row["key"] is not None:
            _sum_into(found, str(row["key"])[:7], {"started": row["enrolled"]})
    for row in completions:
        if row["key"] is not None:
            _sum_into(found, str(row["key"])[:7], {"completed": row["completed"]})
    rows = [{"month": month, **found[month]} for month in sorted(found)]
    return protected_table(rows, "month", ("started", "completed"))
