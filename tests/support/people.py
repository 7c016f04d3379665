"""Valid, made-up PRC resident ID numbers for test people (region 130102: Shijiazhuang)."""

import itertools
import random

from plan_events.identity import check_digit

_serial = itertools.count(random.SystemRandom().randrange(10**6))


def id_number(born: str = "19980808") -> str:
    """A fresh valid 18-character ID number: region, birth date, 3-digit serial, check digit."""
    n = next(_serial)
    first17 = f"{130102 + n // 1000 % 900:06d}{born}{n % 1000:03d}"
    return first17 + check_digit(first17)
