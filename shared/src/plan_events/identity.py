"""PRC resident ID numbers: validated, then known only by a keyed hash (the person id every service uses)."""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


class InvalidIdNumber(ValueError):
    """The message says what is wrong (length, characters, birth date or check digit)."""


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def validate(id_number: str) -> date:
    """Return the birth date of a well-formed 18-character ID number, or raise InvalidIdNumber."""
    value = id_number.strip().upper()
    if len(value) != 18:
        raise InvalidIdNumber(f"must be 18 characters, got {len(value)}")
    if not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        raise InvalidIdNumber("must be 17 digits followed by a digit or X")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidIdNumber(f"birth date {value[6:14]} is not a real date") from None
    if born.year < 1900:
        raise InvalidIdNumber(f"birth date {value[6:14]} is not plausible")
    if check_digit(value[:17]) != value[17]:
        raise InvalidIdNumber("check digit does not match")
    return born


@dataclass(frozen=True)
class Pseudonym:
    trainee_id: str  # the same person gets the same id at every institution; safe to publish
    id_hash: str  # the full keyed hash, unique per person
    masked: str  # what a person may see: 110105********123X


def pseudonymise(id_number: str, key: bytes) -> Pseudonym:
    value = id_number.strip().upper()
    digest = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    return Pseudonym(trainee_id=f"tr-{digest[:24]}", id_hash=digest, masked=f"{value[:6]}********{value[14:]}")


def _normalised(value: str) -> str:
    validate(value)  # raises InvalidIdNumber (a ValueError): pydantic reports it against the field
    return value.strip().upper()


IdNumber = Annotated[str, AfterValidator(_normalised), Field(description="18-character PRC resident ID number")]
"""A request field holding an ID number: validated and normalised at the edge."""
