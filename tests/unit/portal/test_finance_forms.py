"""The finance pages' filters and form values, and what a new payment batch would hold."""

from datetime import date
from uuid import UUID

import pytest

from portal import formcheck as check
from portal.formcheck import Invalid
from portal.pages.finance import payable_by_institution, subsidy_filters

A = "7d7cf7a4-9a37-4b43-8f53-2a3f6f1e2b10"
B = "0b4b4b7e-1d7e-4f5e-9f6a-0c1d2e3f4a5b"


def test_subsidy_filters_are_typed_and_empty_ones_dropped() -> None:
    found = subsidy_filters({"institution_id": A, "tier": "senior", "status": "", "completed_from": "2020-02-01"})
    assert found == {
        "institution_id": UUID(A),
        "tier": "senior",
        "status": None,
        "completed_from": date(2020, 2, 1),
        "completed_to": None,
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"institution_id": "not-a-uuid"}, "institution_id"),
        ({"tier": "master"}, "tier"),
        ({"status": "stolen"}, "status"),
        ({"completed_from": "2020/02/01"}, "completed_from"),
        ({"completed_from": "2020-02-31"}, "completed_from"),
        ({"completed_from": "2020-03-01", "completed_to": "2020-02-01"}, "completed_to"),
    ],
)
def test_a_bad_filter_names_its_field(query: dict[str, str], field: str) -> None:
    with pytest.raises(Invalid) as raised:
        subsidy_filters(query)
    assert raised.value.field == field


def test_numbers_are_whole_and_in_range() -> None:
    assert check.required_int({"n": " 1,800 "}, "n") == 1800
    assert check.optional_int({"n": ""}, "n") is None
    for bad in ("12.5", "-3", "1e3", "九百"):
        with pytest.raises(Invalid):
            check.required_int({"n": bad}, "n")
    with pytest.raises(Invalid):
        check.required_int({"n": "0"}, "n")  # at least 1
    with pytest.raises(Invalid):
        check.required_int({}, "n")


def test_a_reason_has_three_to_five_hundred_characters() -> None:
    assert check.reason({"r": "  did not attend "}, "r") == "did not attend"
    for bad in ("", "ab", "x" * 501):
        with pytest.raises(Invalid):
            check.reason({"r": bad}, "r")


def test_payable_counts_only_approved_subsidies_in_no_batch_per_institution() -> None:
    rows = [
        {"institution_id": A, "status": "approved", "batch_id": None, "amount_yuan": 900},
        {"institution_id": A, "status": "approved", "batch_id": None, "amount_yuan": 5000},
        {"institution_id": A, "status": "approved", "batch_id": B, "amount_yuan": 900},
        {"institution_id": B, "status": "approved", "batch_id": None, "amount_yuan": 900},
        {"institution_id": B, "status": "paid", "batch_id": None, "amount_yuan": 900},
    ]
    assert payable_by_institution(rows) == [
        {"institution_id": A, "count": 2, "total_yuan": 5900},
        {"institution_id": B, "count": 1, "total_yuan": 900},
    ]


def test_times_are_shown_in_the_citys_time_zone() -> None:
    shown = check.when("2020-05-01T16:30:00Z")
    assert shown is not None and (shown.day, shown.hour, shown.minute) == (2, 0, 30)
    assert check.when(None) is None
