"""ID numbers: validated strictly, then only a keyed hash and a masked form are kept."""

import pytest

from plan_events.identity import InvalidIdNumber, pseudonymise, validate
from tests.support.people import id_number

KNOWN_GOOD = "11010519491231002X"  # the textbook example, check digit X


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
    ],
)
def test_a_malformed_number_is_refused_saying_why(number: str, message: str) -> None:
    with pytest.raises(InvalidIdNumber, match=message):
        validate(number)


def test_the_same_person_gets_the_same_pseudonym_and_a_different_key_gives_another() -> None:
    number = id_number()
    assert pseudonymise(number, b"k1") == pseudonymise(number.lower(), b"k1")
    assert pseudonymise(number, b"k1").trainee_id != pseudonymise(number, b"k2").trainee_id


def test_the_pseudonym_and_mask_reveal_no_more_than_region_and_last_digits() -> None:
    person = pseudonymise(KNOWN_GOOD, b"secret")
    assert person.masked == "110105********002X"
    assert KNOWN_GOOD not in (person.trainee_id + person.id_hash)
    assert "19491231" not in person.trainee_id + person.masked
