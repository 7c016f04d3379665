"""Reading the values of the finance and talent office pages' forms and filters: pure, tested on their own.

Each reader returns the value in its type, None for an empty optional value, or raises `Invalid` naming the field
and saying (as an English message id, translated when shown) what is wrong: the page answers 422 with it.
"""

import re
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from portal.i18n import N_

CITY = ZoneInfo("Asia/Shanghai")
PERSON_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ID_NUMBER_LIKE = re.compile("^\\s*[0-9\uff10-\uff19]{17}[0-9Xx\uff10-\uff19\uff38\uff58]\\s*$")  # full-width too


class Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def text(form: Mapping[str, Any], field: str) -> str:
    value = form.get(field)
    return value.strip() if isinstance(value, str) else ""


def optional_uuid(form: Mapping[str, Any], field: str) -> UUID | None:
    value = text(form, field)
    if not value:
        return None
    try:
        return UUID(value)
    except ValueError:
        raise Invalid(field, N_("This is not a valid identifier (a UUID such as 3f2a…-…).")) from None


def required_uuid(form: Mapping[str, Any], field: str) -> UUID:
    found = optional_uuid(form, field)
    if found is None:
        raise Invalid(field, N_("This field is required."))
    return found


def optional_int(form: Mapping[str, Any], field: str, low: int = 0, high: int = 2**53) -> int | None:
    value = text(form, field).replace(",", "").replace("\uff0c", "")  # a full-width comma too
    if not value:
        return None
    if not re.fullmatch(r"[0-9]+", value):
        raise Invalid(field, N_("Enter a whole number (digits only)."))
    number = int(value)
    if not low <= number <= high:
        raise Invalid(field, N_("This number is out of range."))
    return number


def required_int(form: Mapping[str, Any], field: str, low: int = 1, high: int = 2**53) -> int:
    found = optional_int(form, field, low, high)
    if found is None:
        raise Invalid(field, N_("This field is required."))
    return found


def optional_date(form: Mapping[str, Any], field: str) -> date | None:
    value = text(form, field)
    if not value:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(field, N_("Enter a date as YYYY-MM-DD.")) from None


def choice(form: Mapping[str, Any], field: str, allowed: Collection[str]) -> str | None:
    value = text(form, field)
    if not value:
        return None
    if value not in allowed:
        raise Invalid(field, N_("Choose one of the listed values."))
    return value


def reason(form: Mapping[str, Any], field: str, low: int = 3, high: int = 500) -> str:
    value = text(form, field)
    if len(value) < low:
        raise Invalid(field, N_("Write at least 3 characters."))
    if len(value) > high:
        raise Invalid(field, N_("This text is too long."))
    return value


def person_id(form: Mapping[str, Any], field: str) -> str | None:
    """A person's pseudonym (tr-…), never their ID number: the office never searches by ID number."""
    value = text(form, field)
    if not value:
        return None
    if ID_NUMBER_LIKE.match(value):
        raise Invalid(field, N_("This looks like an ID number: enter the person's pseudonym (tr-…) instead."))
    if not PERSON_ID.match(value):
        raise Invalid(field, N_("A pseudonym has only letters, digits, - and _ (e.g. tr-3f9c…)."))
    return value


def date_range(start: date | None, end: date | None, end_field: str) -> None:
    if start and end and end < start:
        raise Invalid(end_field, N_("The end date is before the start date."))


def when(value: Any) -> datetime | None:
    """An API's timestamp (ISO text) as a datetime in the city's time zone, for display."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.astimezone(CITY) if moment.tzinfo else moment


def day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def short(identifier: Any) -> str:
    """The first block of a UUID: enough to tell rows apart on a screen (exports keep the whole id)."""
    return str(identifier).split("-")[0] if identifier else ""
