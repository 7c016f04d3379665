"""The base of every request body: text is text, numbers are bounded.

PostgreSQL refuses a NUL in `text` (and a 64-bit overflow in `bigint`): left to the database, a hostile
field becomes a 500 and spoils a whole cohort upload. Here such a field is refused with 422 naming it.
"""

import re
from typing import Any

from pydantic import BaseModel, ValidationInfo, field_validator

# the C0 controls and DEL, except tab, line feed and carriage return (whitespace a free-text field may hold),
# and lone surrogates (JSON's "\ud800" decodes to one; no database or encoder takes it)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
MAX_INT = 2**53  # beyond anything counted here (yuan, followers), and exact in every JSON client


class RequestBody(BaseModel):
    @field_validator("*", mode="after")
    @classmethod
    def _sane(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and (found := _CONTROL.search(value)):
            raise ValueError(
                f"character U+{ord(found.group()):04X} (a control character or lone surrogate) is not allowed"
            )
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise ValueError(f"must be at most {MAX_INT} in size")
        return value
