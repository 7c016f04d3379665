"""The talent office's inbox tabs and filters, the person search, and the evidence of a registration form."""

import pytest

from portal import formcheck as check
from portal.formcheck import Invalid
from portal.pages.talent import evidence_request, inbox_filters, tab_counts

SUMMARY = [
    {"route": "plan", "status": "waiting", "count": 5},
    {"route": "plan", "status": "issued", "count": 2},
    {"route": "introduced", "status": "waiting", "count": 3},
    {"route": "introduced", "status": "declined", "count": 1},
]


def test_tab_counts_per_status_for_every_route_or_one() -> None:
    assert tab_counts(SUMMARY, None) == {"waiting": 8, "acknowledged": 0, "issued": 2, "declined": 1, "all": 11}
    assert tab_counts(SUMMARY, "introduced") == {
        "waiting": 3,
        "acknowledged": 0,
        "issued": 0,
        "declined": 1,
        "all": 4,
    }


def test_the_inbox_opens_on_the_waiting_tab_and_all_means_no_status() -> None:
    assert inbox_filters({})["status"] == "waiting"
    assert inbox_filters({"status": "all"})["status"] is None
    assert inbox_filters({"status": "issued", "route": "plan"})["route"] == "plan"
    for bad in ({"status": "lost"}, {"route": "side-door"}, {"created_to": "yesterday"}):
        with pytest.raises(Invalid):
            inbox_filters(bad)


def test_a_person_is_searched_by_pseudonym_never_by_id_number() -> None:
    assert check.person_id({"p": " tr-0123456789abcdef01234567 "}, "p") == "tr-0123456789abcdef01234567"
    assert check.person_id({"p": ""}, "p") is None
    for number in ("130102199808080014", "13010219980808001X", "１３０１０２１９９８０８０８００１４"):
        with pytest.raises(Invalid) as raised:
            check.person_id({"p": number}, "p")
        assert "ID number" in raised.value.message
    with pytest.raises(Invalid):
        check.person_id({"p": "tr-../../x"}, "p")


def test_evidence_of_each_kind_filled_in() -> None:
    form = {
        "followers_platform": "Douyin",
        "followers_value": "2,400,000",
        "sales_value": "",
        "award_level": "provincial",
        "award_detail": "Hebei live-commerce star",
        "presence_detail": "runs a cashmere live room in Shijiazhuang",
    }
    assert evidence_request(form) == [
        {"kind": "followers", "platform": "Douyin", "value": 2_400_000},
        {"kind": "award", "level": "provincial", "detail": "Hebei live-commerce star"},
        {"kind": "local_presence", "detail": "runs a cashmere live room in Shijiazhuang"},
    ]
    assert evidence_request({}) == []


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"followers_value": "1000"}, "followers_platform"),
        ({"followers_platform": "Kuaishou"}, "followers_value"),
        ({"followers_platform": "Kuaishou", "followers_value": "many"}, "followers_value"),
        ({"award_detail": "Golden mic"}, "award_level"),
        ({"award_level": "national"}, "award_detail"),
        ({"award_level": "galactic", "award_detail": "x"}, "award_level"),
    ],
)
def test_half_filled_evidence_names_the_missing_field(form: dict[str, str], field: str) -> None:
    with pytest.raises(Invalid) as raised:
        evidence_request(form)
    assert raised.value.field == field
