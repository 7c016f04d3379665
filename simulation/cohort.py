"""Made-up but realistic people and institutions for a run, drawn from a seeded RNG (no I/O)."""

import random
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate

from plan_events.identity import check_digit

TARGET_GROUPS = (
    ("college_graduate", 35),
    ("vocational_graduate", 20),
    ("unemployed", 20),
    ("rural_household", 22),
    ("other", 3),
)
NICHES = (
    "cashmere and fur",
    "Zhengding pears",
    "Xinle watermelons",
    "ceramics",
    "leather goods",
    "fresh produce",
    None,
    None,
)
SURNAMES = [
    "Li",
    "Wang",
    "Zhang",
    "Liu",
    "Chen",
    "Yang",
    "Zhao",
    "Huang",
    "Zhou",
    "Wu",
    "Xu",
    "Sun",
    "Hu",
    "Zhu",
    "Gao",
    "Lin",
    "He",
    "Guo",
    "Ma",
    "Luo",
]
GIVEN = [
    "Jiaqi",
    "Zhe",
    "Bao",
    "Cuixia",
    "Wei",
    "Fang",
    "Na",
    "Min",
    "Jing",
    "Li",
    "Qiang",
    "Lei",
    "Yang",
    "Yan",
    "Jun",
    "Tao",
    "Ming",
    "Chao",
    "Xiu",
    "Hua",
]


# The plan's period as enrollment's policy publishes it: a course starts and ends inside it.
PERIOD_START = date(2020, 1, 1)
PERIOD_END = date(2021, 12, 31)
MIN_COURSE_DAYS = 15
LATEST_START = PERIOD_END - timedelta(days=MIN_COURSE_DAYS)  # a course starting later cannot end in the plan


@dataclass(frozen=True)
class InstitutionPlan:
    name: str
    mode: str
    share: float  # of the basic cohort


INSTITUTIONS = (
    InstitutionPlan("Shijiazhuang Live Academy", "offline", 0.34),
    InstitutionPlan("Cloud Studio Online", "online", 0.24),
    InstitutionPlan("Village Room Training", "offline", 0.16),
    InstitutionPlan("Hebei E-commerce College", "both", 0.12),
    InstitutionPlan("Cashmere Town Workshop", "offline", 0.08),
    InstitutionPlan("Taihang Creators Hub", "online", 0.06),
)


@dataclass(frozen=True)
class Size:
    basic: int
    professional: int
    senior: int
    fail_rate: float = 0.05
    withdraw_rate: float = 0.03
    invalid_rate: float = 0.01
    poach_rate: float = 0.01  # another institution tries to enrol the same person in the same tier
    hostile_rate: float = 0.01  # rows that must be refused: other spellings of known people, impossible dates


DEFAULT = Size(basic=10_000, professional=1_200, senior=120)
FULL_PLAN = Size(basic=100_000, professional=10_000, senior=200)


@dataclass
class Person:
    id_number: str
    name: str
    phone: str
    target_group: str
    niche: str | None
    ready_on: date | None = None  # when the last passed course ended


_GROUPS = [group for group, _ in TARGET_GROUPS]
_GROUPS_CUMULATIVE = list(accumulate(weight for _, weight in TARGET_GROUPS))  # the draws `weights=` makes, once


class Population:
    """People with unique, valid ID numbers (a run-specific serial keeps runs apart)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.serial = secrets.randbelow(10**12)  # new people every run; the seed shapes the cohort only

    def person(self) -> Person:
        """Region, birth date and sequence all come from the serial, so no two people share a number."""
        rng = self.rng
        self.serial += 1
        region = 130100 + self.serial % 90 + 1
        born = date(1975, 1, 1) + timedelta(days=self.serial // 90 % (365 * 28))
        first17 = f"{region:06d}{born:%Y%m%d}{self.serial // (90 * 365 * 28) % 1000:03d}"
        return Person(
            first17 + check_digit(first17),
            f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}",
            f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}",
            rng.choices(_GROUPS, cum_weights=_GROUPS_CUMULATIVE)[0],
            rng.choice(NICHES),
        )

    def broken(self, person: Person) -> dict[str, object]:
        """An invalid row as real uploads have them: a mistyped ID number or phone."""
        row = enrolment_row(person, "basic", "offline", date(2020, 9, 1))
        if self.rng.random() < 0.5:
            number = person.id_number
            row["id_number"] = number[:17] + ("0" if number[17] != "0" else "1")
        else:
            row["phone"] = "138-0013"
        return row


def enrolment_row(person: Person, tier: str, mode: str, starts_on: date) -> dict[str, object]:
    row: dict[str, object] = {
        "id_number": person.id_number,
        "name": person.name,
        "phone": person.phone,
        "target_group": person.target_group,
        "tier": tier,
        "mode": mode,
        "starts_on": starts_on.isoformat(),
    }
    if person.niche:
        row["niche"] = person.niche
    return row


def start_date(rng: random.Random) -> date:
    """About a fifth of the courses start in 2020 (as the targets say), the rest in 2021."""
    earliest = date(2020, 8, 1) if rng.random() < 0.2 else date(2021, 1, 1)
    return earliest + timedelta(days=rng.randrange(140 if earliest.year == 2020 else 320))


def next_start(rng: random.Random, ready_on: date) -> date | None:
    """The next tier starts 3 to 29 days after the last one ended, if it can still end inside the plan.

    None: too late in the plan for another course, so the person does not try the next tier (a start
    squeezed before the last possible day keeps the wait of at least 3 days)."""
    room = (LATEST_START - ready_on).days  # the latest start is ready_on + room
    if room < 3:
        return None
    return ready_on + timedelta(days=rng.randrange(3, min(30, room + 1)))


def course_end(rng: random.Random, starts_on: date) -> date:
    """15 to 20 days after the start, but never after the plan's last day (a late course is a short one)."""
    return min(starts_on + timedelta(days=MIN_COURSE_DAYS + rng.randrange(6)), PERIOD_END)
