"""Hostile rows: what a careless or probing institution sends, each with the refusal it must get.

Every kind below must be refused; the simulator counts the refusals by code and reconciles them:

- another spelling of a person the services already know (full-width or Arabic-Indic digits, spaces
  or zero-width characters inside, a lowercase check `x`) is the same person, never a second trainee:
  re-enrolling them is refused as usual (`already_enrolled`, `enrolled_elsewhere`,
  `tier_already_completed`, `tier_out_of_order`);
- impossible people (born after today, a `000000` region) are `invalid_id_number`; people too young
  or too old for the plan are `age_out_of_range`;
- courses starting outside the plan's period are `outside_plan_period` (or `date_in_future`);
- completions dated after the period or in the future, courses too short, or another institution's
  enrolment are refused and leave the enrolment open.
"""

import random
from datetime import date, timedelta

from plan_events.identity import check_digit
from simulation.cohort import LATEST_START, PERIOD_END, PERIOD_START, Person, Population, enrolment_row, start_date

# another spelling of an existing person's number -> the tier it is sent for, the refusal it must get
RESPELLED = {
    "respelled, same institution": "already_enrolled",
    "respelled, another institution": "enrolled_elsewhere",
    "respelled, a tier already passed": "tier_already_completed",
    "respelled, the next tier too early": "tier_out_of_order",
}
# a new person or a new course that cannot be: the refusal it must get (in a bulk upload)
IMPOSSIBLE = {
    "born after today": "invalid_id_number",
    "region 000000": "invalid_id_number",
    "too young or too old": "age_out_of_range",
    "starts before the plan": "outside_plan_period",
    "starts too late to end in the plan": "outside_plan_period",
    "starts in the future": "date_in_future",
}
# a completion row that must be refused (the enrolment stays open)
BAD_COMPLETIONS = {
    "completed after the plan": "outside_plan_period",
    "completed in the future": "date_in_future",
    "completed on 9999-12-31": "date_in_future",
    "course too short": "course_too_short",
    "another institution's enrolment": "enrollment_not_found",
}
SUSPENDED = "enrols while suspended"  # a walk-in at the suspended institution: refused as a whole request
ENROLMENT_KINDS = {**RESPELLED, **IMPOSSIBLE, SUSPENDED: "institution_suspended"}
EXPECTED = {**ENROLMENT_KINDS, **BAD_COMPLETIONS}
# refusals that tell an institution something of a person's record elsewhere: the Bureau audits each one
REVEALING = ("enrolled_elsewhere", "tier_already_completed", "tier_out_of_order")

FORMS = ("full-width digits", "Arabic-Indic digits", "spaces inside", "zero-width characters", "lowercase x")
_FULL_WIDTH = str.maketrans({str(d): chr(0xFF10 + d) for d in range(10)} | {"X": "Ｘ"})
_ARABIC_INDIC = str.maketrans({str(d): chr(0x0660 + d) for d in range(10)})
_INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
_SPACES = (" ", "  ", "\u3000", "\u00a0", "\t")


def respell(number: str, form: str, rng: random.Random) -> str:
    """The same number as people type it: other digits, separators, a lowercase check character."""
    if form == "full-width digits":
        spelled = number.translate(_FULL_WIDTH)
        return spelled[:17] + "ｘ" if number.endswith("X") and rng.random() < 0.5 else spelled
    if form == "Arabic-Indic digits":
        return number.translate(_ARABIC_INDIC)
    if form == "spaces inside":  # region, birth date, sequence and check
        gap = rng.choice(_SPACES)
        return f"{number[:6]}{gap}{number[6:14]}{gap}{number[14:]}"
    if form == "zero-width characters":
        chars = list(number)
        for _ in range(rng.randrange(1, 4)):
            chars.insert(rng.randrange(1, len(chars)), rng.choice(_INVISIBLE))
        return "".join(chars)
    if form == "lowercase x":
        assert number.endswith("X"), "only a number whose check character is X has a lowercase spelling"
        return number[:17] + "x"
    raise ValueError(form)


def number(region: str, born: date, rng: random.Random) -> str:
    first17 = f"{region}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + check_digit(first17)


def impossible(kind: str, people: Population, tier: str, mode: str) -> tuple[Person, dict[str, object]]:
    """A new person's enrolment row of an IMPOSSIBLE kind (valid in every other way)."""
    rng, person = people.rng, people.person()
    starts_on = start_date(rng)
    if kind == "born after today":  # a valid check digit: only the birth date is wrong
        person.id_number = number("130102", date.today() + timedelta(days=rng.randrange(30, 3650)), rng)
    elif kind == "region 000000":
        person.id_number = number("000000", date(1990, 1, 1) + timedelta(days=rng.randrange(3650)), rng)
    elif kind == "too young or too old":
        years = rng.choice((rng.randrange(6, 15), rng.randrange(62, 80)))
        person.id_number = number("130104", starts_on - timedelta(days=365 * years + rng.randrange(300)), rng)
    elif kind == "starts before the plan":
        starts_on = PERIOD_START - timedelta(days=rng.randrange(1, 700))
    elif kind == "starts too late to end in the plan":
        starts_on = LATEST_START + timedelta(days=rng.randrange(1, (PERIOD_END - LATEST_START).days + 200))
    elif kind == "starts in the future":
        starts_on = rng.choice((date(9999, 12, 31), date.today() + timedelta(days=rng.randrange(30, 400))))
    else:
        raise ValueError(kind)
    return person, enrolment_row(person, tier, mode, starts_on)


def bad_completion(kind: str, starts_on: date, rng: random.Random) -> date:
    """The completed_on of a BAD_COMPLETIONS row (the other institution's one gets a plausible date)."""
    if kind == "completed after the plan":
        return PERIOD_END + timedelta(days=rng.randrange(1, 400))
    if kind == "completed in the future":
        return date.today() + timedelta(days=rng.randrange(30, 400))
    if kind == "completed on 9999-12-31":
        return date(9999, 12, 31)
    if kind == "course too short":
        return starts_on + timedelta(days=rng.randrange(0, 14))
    if kind == "another institution's enrolment":
        return min(starts_on + timedelta(days=16), PERIOD_END)
    raise ValueError(kind)


def share(rows: int, rate: float, kinds: int) -> int:
    """How many hostile rows among `rows`: about `rate` of them, and at least one of each kind (none at rate 0)."""
    return max(kinds, round(rows * rate)) if rows and rate > 0 else 0
