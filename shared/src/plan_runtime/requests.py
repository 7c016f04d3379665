"""The base of every request body: text is text, numbers are bounded.

PostgreSQL refuses a NUL in `text` (and a 64-bit overflow in `bigint`): left to the database, a hostile
field becomes a 500 and spoils a whole cohort upload. Here such a field is refused with 422 naming it.
"""

from typing import Any

from pydantic import BaseModel, ValidationInfo, field_validator

from plan_events.envelope import UNSAFE_TEXT  # C0 controls but tab/LF/CR, DEL, lone surrogates

MAX_INT = 2**53  # beyond anything counted here (yuan, followers), and exact in every JSON client


class RequestBody(BaseModel):
    @field_validator("*", mode="after")
    @classmethod
    def _sane(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and (found := UNSAFE_TEXT.search(value)):
            raise ValueError(
                f"character U+{ord(found.group()):04X} (a control character or lone surrogate) is not allowed"
            )
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise ValueError(f"must be at most {MAX_INT} in size")
        return value
