"""ID numbers: one canonical form per person, validated strictly, only a keyed hash and a masked form kept."""

import re
import sys
import unicodedata
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plan_events.identity import InvalidIdNumber, canonical, check_digit, pseudonymise, region, validate
from tests.support.people import id_number

KNOWN_GOOD = "11010519491231002X"  # the textbook example, check digit X
CANONICAL = re.compile(r"[0-9]{17}[0-9X]")
TODAY = date(2026, 11, 26)

# every Unicode decimal digit, by value: the spellings a person's number may arrive in
DIGITS: dict[int, list[str]] = {d: [] for d in range(10)}
for point in range(sys.maxunicode + 1):
    char = chr(point)
    if unicodedata.category(char) == "Nd":
        DIGITS[unicodedata.decimal(char)].append(char)
INVISIBLE = [" ", "\t", "\u3000", "\u00a0", "\u200b", "\ufeff", "\u2060"]


def test_a_well_formed_number_gives_its_birth_date() -> None:
    assert validate(KNOWN_GOOD).isoformat() == "1949-12-31"
    assert validate(KNOWN_GOOD.lower()).isoformat() == "1949-12-31"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("11010519491231002", "18 characters"),
        ("1101051949123100X2", "17 digits"),
        ("110105194902300021", "not a real date"),
        ("110105194912310021", "check digit"),
        ("110105203001010010", "in the future"),
        ("110105189912310021", "not plausible"),
        ("000000194912310021", "region code 000000"),
        ("990105194912310021", "region code 990105"),
        ("1101051949-1231002X", "'-'"),
        ("①10105194912310021", "is not a digit or X"),  # circled digits are not decimal digits
        ("²10105194912310021", "is not a digit or X"),
        ("11010519491231002Y", "'Y'"),
    ],
)
def test_a_malformed_number_is_refused_saying_why(number: str, message: str) -> None:
    with pytest.raises(InvalidIdNumber, match=message):
        validate(number, today=TODAY)


def test_other_spellings_of_a_number_are_the_same_number() -> None:
    full_width = "１１０１０５１９４９１２３１００２Ｘ"
    arabic_indic = "".join(DIGITS[int(c)][1] if c.isdigit() else "x" for c in KNOWN_GOOD)
    spaced = " 110105 1949 1231 002x\u200b"
    for spelling in (full_width, arabic_indic, spaced, KNOWN_GOOD.lower()):
        assert canonical(spelling) == KNOWN_GOOD
        assert pseudonymise(spelling, b"k") == pseudonymise(KNOWN_GOOD, b"k")


def test_regions_retired_or_unknown_to_the_list_still_count_when_the_province_is_real() -> None:
    assert region("110103").county == "崇文区"  # Beijing's Chongwen district, merged away in 2010
    assert region("130102").province == "河北省"
    assert region("130199").county is None and region("130199").province == "河北省"  # fallback: province


def test_the_same_person_gets_the_same_pseudonym_and_a_different_key_gives_another() -> None:
    number = id_number()
    assert pseudonymise(number, b"k1") == pseudonymise(number.lower(), b"k1")
    assert pseudonymise(number, b"k1").trainee_id != pseudonymise(number, b"k2").trainee_id


def test_the_pseudonym_and_mask_reveal_no_more_than_region_and_last_digits() -> None:
    person = pseudonymise(KNOWN_GOOD, b"secret")
    assert person.masked == "110105********002X"
    assert KNOWN_GOOD not in (person.trainee_id + person.id_hash)
    assert "19491231" not in person.trainee_id + person.masked


# --- properties --------------------------------------------------------------------------------

REGIONS = ["110101", "110103", "130102", "130105", "130199", "310115", "440305", "650102", "810000"]


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    """Any valid canonical number: a real region, a real birth date up to today, any serial."""
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    first17 = f"{draw(st.sampled_from(REGIONS))}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + check_digit(first17)


@st.composite
def spellings(draw: st.DrawFn, number: str) -> str:
    """The same number as a person might type it: any script's digits, x or X, stray separators."""
    out = []
    for char in number:
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(INVISIBLE)))
        out.append(
            draw(st.sampled_from(["x", "X", "ｘ", "Ｘ"])) if char == "X" else draw(st.sampled_from(DIGITS[int(char)]))
        )
    return "".join(out)


@given(st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_every_spelling_of_a_valid_number_has_one_canonical_form(data: st.DataObject) -> None:
    number = data.draw(valid_numbers())
    spelling = data.draw(spellings(number))
    assert canonical(spelling, TODAY) == number
    assert pseudonymise(spelling, b"key") == pseudonymise(number, b"key")


@given(st.text(max_size=40) | st.text(alphabet="0123456789xX１２３٣ \u200b", min_size=15, max_size=22))
@settings(max_examples=1000)
def test_any_text_is_refused_or_has_a_canonical_form_that_is_its_own(text: str) -> None:
    try:
        value = canonical(text, TODAY)
    except InvalidIdNumber:
        return
    assert CANONICAL.fullmatch(value)
    assert canonical(value, TODAY) == value  # a fixed point: canonical forms are never rewritten
    assert validate(value, TODAY) <= TODAY


@given(st.lists(valid_numbers(), min_size=2, max_size=30, unique=True))
def test_no_two_distinct_canonical_forms_share_a_pseudonym(numbers: list[str]) -> None:
    people = [pseudonymise(n, b"key") for n in numbers]
    assert len({p.trainee_id for p in people}) == len({p.id_hash for p in people}) == len(numbers)
