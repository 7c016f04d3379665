"""PRC resident ID numbers: one canonical form, validated, then known only by a keyed hash.

Every path that takes an ID number (single enrolment, cohort CSV/JSONL, talent registration, any
future import) goes through `canonical()` — directly or through the `IdNumber` request field — and
only its result is ever hashed. The decision (docs/identity.md):

- **normalised, not refused**: any Unicode decimal digit (full-width `１`, Arabic-Indic `١`,
  Devanagari `१`, mathematical `𝟏`, …) is the ASCII digit of the same value; `x`, `X`, `ｘ`, `Ｘ` as the
  check character are `X`; whitespace and invisible format characters (zero-width space, BOM) anywhere
  are removed. So the same number typed another way is the same person, never a new one;
- **anything else is refused** with a message saying what: other letters, punctuation, superscripts
  and circled digits (not decimal digits), a wrong length, a birth date that is not a real date, before
  1900 or in the future, a region that is not an administrative division, a wrong check digit.
"""

import hashlib
import hmac
import operator
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, Field

from plan_events.calendar import plan_today

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_X = frozenset("xXｘＸ")


class InvalidIdNumber(ValueError):
    """The message says what is wrong (characters, length, birth date, region or check digit)."""


def check_digit(first17: str) -> str:
    if _PLAIN17.fullmatch(first17):  # the common case: ASCII digits, weighted from their bytes
        return _CHECK[sum(map(operator.mul, first17.encode(), _WEIGHTS)) % 11 - _BIAS]
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


_PLAIN17 = re.compile(r"[0-9]{17}")
_BIAS = ord("0") * sum(_WEIGHTS) % 11
"""Each ASCII digit's byte is its value + ord("0"): the weighted sum of the bytes is off by ord("0") times the sum of
the weights. `_CHECK[bytes_sum % 11 - _BIAS]`: a negative index counts from the end, as `% 11` would wrap it."""
_PLAIN = re.compile(r"[0-9]{17}[0-9Xx]")


def _ascii(raw: str) -> str:
    """The characters of `raw` as ASCII digits and `X`, separators dropped; raise on anything else."""
    if _PLAIN.fullmatch(raw):  # already ASCII, nothing to drop: what the walk below would return
        return raw if raw[17] != "x" else raw[:17] + "X"
    out: list[str] = []
    for char in raw:
        if char.isspace() or unicodedata.category(char) == "Cf":
            continue
        if "0" <= char <= "9":
            out.append(char)
        elif char in _X:
            out.append("X")
        elif unicodedata.category(char) == "Nd":
            out.append(str(unicodedata.decimal(char)))
        else:
            raise InvalidIdNumber(f"character {char!r} (U+{ord(char):04X}) is not a digit or X")
        if len(out) > 18:
            break  # long enough to say it is too long; never walk a huge input
    return "".join(out)


# prefixes in use that the list lacks: residence permits of Taiwan residents (港澳台居民居住证) use 830000
_EXTRA_PREFIXES = {"83": "台湾居民居住证"}


@dataclass(frozen=True)
class Region:
    code: str
    province: str
    county: str | None  # None: a county code the list does not know, accepted on its province


@lru_cache(maxsize=8192)
def region(code: str) -> Region:
    """The administrative division of the first six digits, from python-stdnum's list.

    The list (from the official code tables, each code with the years it was in use) is taken as a set
    of every code ever used, whatever its years: an ID number keeps the code it was issued under, so a
    code retired since must still be accepted. Where the county is not in the list, the province-level
    prefix decides (the list lags new and renamed counties). stdnum's own `get_birth_place` is not used:
    it raises `KeyError` for a known province with an unknown county and refuses numbers whose code was
    not "valid in the birth year" (a person may be registered long after birth)."""
    from stdnum import numdb  # imported late: the data file is read on first use

    valid = len(code) == 6 and all("0" <= c <= "9" for c in code)
    info = numdb.get("cn/loc").info(code) if valid else []
    province = info[0][1].get("province") if info else None
    province = province or (_EXTRA_PREFIXES.get(code[:2]) if valid else None)
    if not province:
        raise InvalidIdNumber(f"region code {code} is not an administrative division of the PRC")
    county = info[1][1].get("county") if len(info) > 1 else None
    if county:  # e.g. "[-2010]崇文区": the name, without the years it was in use
        county = county.split(",")[0].split("]")[-1]
    return Region(code, province, county or None)


def canonical(raw: str, today: date | None = None) -> str:
    """The one canonical form (17 ASCII digits, then a digit or `X`) of a valid ID number, or raise."""
    value = _ascii(raw)
    if len(value) != 18:
        raise InvalidIdNumber(f"must be 18 characters (17 digits and a digit or X), got {len(value)}")
    if "X" in value[:17]:
        raise InvalidIdNumber("must be 17 digits followed by a digit or X")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidIdNumber(f"birth date {value[6:14]} is not a real date") from None
    if born.year < 1900:
        raise InvalidIdNumber(f"birth date {value[6:14]} is not plausible")
    if born > (today or plan_today()):
        raise InvalidIdNumber(f"birth date {value[6:14]} is in the future")
    region(value[:6])
    if check_digit(value[:17]) != value[17]:
        raise InvalidIdNumber("check digit does not match")
    return value


def birth_date(canonical_number: str) -> date:
    """The birth date of a number already in canonical form."""
    value = canonical_number
    return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def validate(id_number: str, today: date | None = None) -> date:
    """Return the birth date of a valid ID number (in any accepted spelling), or raise InvalidIdNumber."""
    return birth_date(canonical(id_number, today))


@dataclass(frozen=True)
class Pseudonym:
    trainee_id: str  # the same person gets the same id at every institution; safe to publish
    id_hash: str  # the full keyed hash, unique per person
    masked: str  # what a person may see: 110105********123X


def pseudonymise(id_number: str, key: bytes) -> Pseudonym:
    """Only the canonical form is hashed: another spelling of the same number is the same person."""
    value = canonical(id_number)
    digest = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    return Pseudonym(trainee_id=f"tr-{digest[:24]}", id_hash=digest, masked=f"{value[:6]}********{value[14:]}")


IdNumber = Annotated[
    str,
    Field(
        description="18-character PRC resident ID number; other digit forms (full-width, other scripts) "
        "are read as the same number",
        max_length=200,
    ),
    AfterValidator(lambda value: canonical(value)),  # InvalidIdNumber is a ValueError: reported on the field
]
"""A request field holding an ID number: validated and put in canonical form at the edge."""
