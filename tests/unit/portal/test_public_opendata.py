"""The open-data page's suppression: no cell under 5 people is shown, and none can be worked out from the rest."""

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.opendata import (
    SUPPRESSED,
    TOTAL,
    by_month,
    by_target_group,
    by_tier,
    chart_value,
    protect,
    protected_table,
)


def test_a_cell_under_five_is_suppressed_and_others_are_shown_as_they_are() -> None:
    cells = {"a": 4, "b": 5, "c": 120}
    assert protect(cells, []) == {"a": SUPPRESSED, "b": 5, "c": 120}


def test_zero_counts_fewer_than_five_people_too() -> None:
    assert protect({"a": 0}, []) == {"a": SUPPRESSED}


def test_a_lone_suppressed_cell_in_a_column_takes_the_smallest_other_cell_with_it() -> None:
    # total 139 is published: 139 - 120 - 15 would give away the 4
    published = protect({"a": 4, "b": 15, "c": 120}, [["a", "b", "c"]])
    assert published == {"a": SUPPRESSED, "b": SUPPRESSED, "c": 120}


def test_two_suppressed_cells_in_a_column_need_nothing_more() -> None:
    assert protect({"a": 1, "b": 2, "c": 120}, [["a", "b", "c"]]) == {"a": SUPPRESSED, "b": SUPPRESSED, "c": 120}


def test_ties_are_broken_by_the_groups_order() -> None:
    assert protect({"a": 3, "b": 9, "c": 9}, [["a", "b", "c"]]) == {"a": SUPPRESSED, "b": SUPPRESSED, "c": 9}


def test_a_table_gets_its_total_row_and_each_column_is_protected() -> None:
    rows = [{"k": "x", "n": 3, "m": 50}, {"k": "y", "n": 40, "m": 60}, {"k": "z", "n": 41, "m": 70}]
    assert protected_table(rows, "k", ("n", "m")) == [
        {"k": "x", "n": SUPPRESSED, "m": 50},
        {"k": "y", "n": SUPPRESSED, "m": 60},
        {"k": "z", "n": 41, "m": 70},
        {"k": TOTAL, "n": 84, "m": 180},
    ]


def test_by_tier_adds_up_the_read_models_rows_and_shows_every_tier() -> None:
    counts = [
        {"tier": "basic", "key": None, "enrolled": 100, "completed": 80, "withdrawn": 6},
        {"tier": "professional", "key": None, "enrolled": 30, "completed": 20, "withdrawn": 2},
    ]
    assert by_tier(counts) == [
        {"tier": "basic", "enrolled": 100, "completed": 80, "withdrawn": 6},
        # senior's zeros alone would be the totals minus the rest: professional's cells go too
        {"tier": "professional", "enrolled": SUPPRESSED, "completed": SUPPRESSED, "withdrawn": SUPPRESSED},
        {"tier": "senior", "enrolled": SUPPRESSED, "completed": SUPPRESSED, "withdrawn": SUPPRESSED},
        {"tier": TOTAL, "enrolled": 130, "completed": 100, "withdrawn": 8},
    ]


def test_by_target_group_adds_up_the_tiers() -> None:
    counts = [
        {"tier": "basic", "key": "unemployed", "enrolled": 10, "completed": 6, "withdrawn": 0},
        {"tier": "professional", "key": "unemployed", "enrolled": 7, "completed": 5, "withdrawn": 0},
        {"tier": "basic", "key": "college_graduate", "enrolled": 60, "completed": 40, "withdrawn": 9},
    ]
    rows = {r["target_group"]: r for r in by_target_group(counts)}
    assert rows["unemployed"] == {
        "target_group": "unemployed",
        "enrolled": 17,
        "completed": 11,
        "withdrawn": SUPPRESSED,
    }
    assert rows[TOTAL]["enrolled"] == 77
    assert list(rows) == ["college_graduate", "vocational_graduate", "unemployed", "rural_household", "other", TOTAL]


def test_by_month_puts_starts_and_completions_in_their_own_months() -> None:
    starts = [
        {"tier": "basic", "key": "2020-08-01", "enrolled": 30, "completed": 0},
        {"tier": "professional", "key": "2020-08-01", "enrolled": 6, "completed": 0},
        {"tier": "basic", "key": "2020-09-01", "enrolled": 12, "completed": 0},
    ]
    completions = [
        {"tier": "basic", "key": None, "enrolled": 9, "completed": 0},
        {"tier": "basic", "key": "2020-09-01", "enrolled": 25, "completed": 20},
    ]
    assert by_month(starts, completions) == [
        {"month": "2020-08", "started": 36, "completed": SUPPRESSED},
        {"month": "2020-09", "started": 12, "completed": SUPPRESSED},  # else 20 - 0 gives August away
        {"month": TOTAL, "started": 48, "completed": 20},
    ]


def test_a_suppressed_cell_is_a_gap_in_a_chart() -> None:
    assert chart_value(SUPPRESSED) is None
    assert chart_value(7) == 7


tables = st.lists(st.lists(st.integers(min_value=0, max_value=60), min_size=3, max_size=3), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(tables)
def test_no_cell_under_five_is_shown_shown_cells_are_true_and_no_suppressed_cell_can_be_derived(
    values: list[list[int]],
) -> None:
    columns = ("a", "b", "c")
    rows = [{"k": f"r{i}", **dict(zip(columns, row, strict=True))} for i, row in enumerate(values)]
    published = protected_table(rows, "k", columns)
    assert [r["k"] for r in published] == [*(r["k"] for r in rows), TOTAL]
    truth = [*rows, {"k": TOTAL, **{c: sum(r[c] for r in rows) for c in columns}}]
    for shown, true in zip(published, truth, strict=True):
        for column in columns:
            if true[column] < 5:
                assert shown[column] == SUPPRESSED
            else:
                assert shown[column] in (true[column], SUPPRESSED)
    for column in columns:
        inner = [r[column] for r in published[:-1]]
        hidden = inner.count(SUPPRESSED)
        # exactly one hidden cell under a published total would be the total minus the others
        assert hidden != 1 or len(inner) == 1
        if len(inner) > 1 and published[-1][column] != SUPPRESSED and hidden:
            # what a reader can work out: the hidden cells' sum, never one of them alone
            assert hidden >= 2


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(min_value=0, max_value=30), max_size=15))
def test_protection_is_deterministic_and_never_hides_without_cause(cells: dict[str, int]) -> None:
    group = list(cells)
    once, again = protect(cells, [group]), protect(cells, [group])
    assert once == again
    small = [k for k, v in cells.items() if v < 5]
    hidden = [k for k, v in once.items() if v == SUPPRESSED]
    # the secondary step adds at most one cell to a group that had exactly one suppressed cell
    assert len(hidden) - len(small) == (1 if len(small) == 1 and len(cells) > 1 else 0)
