"""Playing the plan through the real HTTP APIs: institutions enrol and complete, the office verifies talents."""

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import accumulate
from typing import Any

import httpx

from simulation import hostile
from simulation.client import client
from simulation.cohort import (
    INSTITUTIONS,
    Person,
    Population,
    Size,
    course_end,
    enrolment_row,
    next_start,
    start_date,
)

TIERS = ("basic", "professional", "senior")
CHUNK = 5_000
UPLOADS = 3  # bulk uploads in flight at once (all institutions together): the service works while we read answers
RACED_RETRIES = 20  # an enrolment request refused as raced by a concurrent one is sent again, at most this often
SINGLES = 16  # single requests (walk-ins, withdrawals, look-ups) in flight at once
SINGLE_WITHDRAWALS = 20  # one withdrawal in this many is its own request; the rest go in the institution's report
REASON = "found a job before the end"
OUTCOMES = (("employed", 60), ("own_business", 25), ("seeking", 15))
_OUTCOMES = [outcome for outcome, _ in OUTCOMES]
_OUTCOMES_CUMULATIVE = list(accumulate(weight for _, weight in OUTCOMES))

Step = Callable[[str, int, int | None], None]  # (phase, advance, total) for a progress display


@dataclass(frozen=True)
class Endpoints:
    enrollment: str
    funding: str
    talent_card: str
    bureau_key: str
    finance_key: str
    office_key: str


@dataclass
class Enrolment:
    id: str
    trainee_id: str
    person: Person
    institution: str
    tier: str
    starts_on: date


@dataclass
class Planned:
    """A row an institution uploads, with the person it is about and, for a hostile row, its kind."""

    person: Person | None  # None: a broken row (a mistyped number or phone)
    row: dict[str, object]
    kind: str | None = None  # a key of hostile.EXPECTED: the row must be refused with that code


Answer = tuple[Planned, dict[str, Any] | None, str | None]  # a row, the enrolment made of it or its refusal code


@dataclass
class Suspension:
    """One institution suspended mid-run (an inspection), its completions held by funding, then reinstated."""

    institution: str
    institution_id: str
    reason: str
    passed: int = 0  # completions reported while suspended
    failed: int = 0
    withdrawn: int = 0  # its withdrawals in the same tier (funding must have seen them before the release)
    held_seen: int = 0  # what funding said while the institution was suspended
    rejected_seen: int = 0
    funding_status: str = "?"
    committed_yuan: int = 0  # reserved + held yuan of the institution just before finance's release
    released_count: int = 0
    released_yuan: int = 0
    release_active_refusal: str = "?"  # finance releasing an active institution's reservations


@dataclass
class Sent:
    """Everything the simulator did and was told, to reconcile the services' numbers against."""

    run: str
    institutions: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (id, key)
    accepted: Counter[str] = field(default_factory=Counter)  # by tier
    refused: Counter[str] = field(default_factory=Counter)  # enrolment rows, by error code
    completion_refused: Counter[str] = field(default_factory=Counter)  # completion rows, by error code
    hostile: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, code answered or "accepted")
    respelled: Counter[str] = field(default_factory=Counter)  # other spellings of known people, by form
    people: set[str] = field(default_factory=set)  # canonical ID numbers of everyone accepted at least once
    completions_refused_then_open: tuple[int, int] = (0, 0)  # (refused completion rows, enrolments found open)
    suspension: Suspension | None = None
    audit_before: int = 0  # the newest identity-lookup audit entry before the run
    single_requests: int = 0
    withdrawn: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    by_group: Counter[tuple[str, str]] = field(default_factory=Counter)  # (tier, group) accepted
    senior_passers: set[str] = field(default_factory=set)
    trainees: set[str] = field(default_factory=set)
    talents: list[dict[str, Any]] = field(default_factory=list)
    expected_introduced: int = 0
    dead_letters_before: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


async def in_parallel(
    calls: list[Coroutine[Any, Any, None]], limit: int = 8, gate: asyncio.Semaphore | None = None
) -> None:
    """Like several clerks at their desks: at most `limit` requests in flight (or as many as a shared `gate` lets)."""
    gate = gate or asyncio.Semaphore(limit)

    async def one(call: Coroutine[Any, Any, None]) -> None:
        async with gate:
            await call

    await asyncio.gather(*(one(c) for c in calls))


def by_person(rows: list["Planned"], size: int) -> list[list["Planned"]]:
    """Rows in parts of about `size`, every row of one person in the same part (a person listed twice is listed
    twice in one file, as a clerk would): parts sent at once never race for a person."""
    parts: list[list[Planned]] = [[]]
    where: dict[str, list[Planned]] = {}
    for row in rows:
        key = row.person.id_number if row.person is not None else str(id(row))
        part = where.get(key)
        if part is None:
            if len(parts[-1]) >= size:
                parts.append([])
            part = where[key] = parts[-1]
        part.append(row)
    return [part for part in parts if part]


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Simulation:
    def __init__(self, endpoints: Endpoints, size: Size, seed: int, step: Step) -> None:
        self.at, self.size, self.step = endpoints, size, step
        self.rng = random.Random(seed)
        self.people = Population(self.rng)
        self.sent = Sent(run=uuid.uuid4().hex[:6])  # unique per run, whatever the seed
        self.http = client()
        self.bureau = {"X-API-Key": self.at.bureau_key, "X-Actor": "simulator"}
        self.finance = {"X-API-Key": self.at.finance_key, "X-Actor": "simulator-finance"}
        self.uploads = asyncio.Semaphore(UPLOADS)  # shared by every institution's bulk uploads
        self.singles = asyncio.Semaphore(SINGLES)  # shared by every single request sent in parallel

    async def play(self) -> Sent:
        try:
            newest = await self._call(
                "GET", f"{self.at.enrollment}/identity-lookups", params={"limit": 1}, headers=self.bureau
            )
            self.sent.audit_before = newest[0]["id"] if newest else 0
            await self._accredit()
            passers: list[Person] = []
            for tier, count in zip(TIERS, (self.size.basic, self.size.professional, self.size.senior), strict=True):
                started = time.monotonic()
                enrolments = await self._enrol(tier, count, passers)
                passers = await self._finish(tier, enrolments)
                self.sent.seconds[tier] = time.monotonic() - started
            await self._talent_office()
            return self.sent
        finally:
            await self.http.aclose()

    async def _call(self, method: str, url: str, expect: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        answer = await self.http.request(method, url, **kwargs)
        if answer.status_code not in expect:
            raise RuntimeError(f"{method} {url} answered {answer.status_code}: {answer.text[:500]}")
        return answer.json() if answer.content else None

    async def _funding(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to funding (the client retries it across a funding restart)."""
        return await self.http.request(method, f"{self.at.funding}{path}", headers=self.finance, **kwargs)

    async def _accredit(self) -> None:
        for plan in INSTITUTIONS:
            name = f"{plan.name} ({self.sent.run})"
            created = await self._call(
                "POST",
                f"{self.at.enrollment}/institutions",
                headers=self.bureau,
                json={"name": name, "mode": plan.mode},
            )
            key = await self._call(
                "POST", f"{self.at.enrollment}/institutions/{created['id']}/keys", headers=self.bureau
            )
            self.sent.institutions[plan.name] = (created["id"], key["api_key"])

    def _key(self, institution: str) -> dict[str, str]:
        return {"X-API-Key": self.sent.institutions[institution][1]}

    def _mode(self, institution: str) -> str:
        mode = next(p.mode for p in INSTITUTIONS if p.name == institution)
        return mode if mode != "both" else self.rng.choice(("online", "offline"))

    async def _enrol(self, tier: str, count: int, passers: list[Person]) -> list[Enrolment]:
        rng = self.rng
        names = [p.name for p in INSTITUTIONS]
        shares = list(accumulate(p.share for p in INSTITUTIONS))  # cumulative: the draws `weights=` makes, once
        starts: list[tuple[Person, date]] = []
        if tier == "basic":
            starts = [(self.people.person(), start_date(rng)) for _ in range(count)]
        else:  # the next tier after the last one, for those who still have time for it in the plan
            for person in rng.sample(passers, len(passers)):
                assert person.ready_on is not None
                starts_on = next_start(rng, person.ready_on)
                if starts_on is not None:
                    starts.append((person, starts_on))
                    if len(starts) == count:
                        break
        plan: dict[str, list[Planned]] = {n: [] for n in names}
        for person, starts_on in starts:
            institution = rng.choices(names, cum_weights=shares)[0]  # the next tier often at another institution
            plan[institution].append(Planned(person, enrolment_row(person, tier, self._mode(institution), starts_on)))
        for institution in names:  # the mistakes real uploads have
            for _ in range(int(len(plan[institution]) * self.size.invalid_rate)):
                plan[institution].append(Planned(None, self.people.broken(self.people.person())))
            for _ in range(int(len(plan[institution]) * self.size.poach_rate)):
                other = rng.choice(names)
                if plan[other]:
                    victim = rng.choice(plan[other])
                    if victim.person is not None and victim.kind is None:
                        plan[institution].append(
                            Planned(victim.person, {**victim.row, "mode": self._mode(institution)})
                        )
        kinds = list(hostile.IMPOSSIBLE)  # half the hostile share: people and courses that cannot be
        for index in range(hostile.share(len(starts), self.size.hostile_rate / 2, len(kinds))):
            institution = rng.choices(names, cum_weights=shares)[0]
            kind = kinds[index % len(kinds)]
            person, row = hostile.impossible(kind, self.people, tier, self._mode(institution))
            plan[institution].append(Planned(person, row, kind))
        total = sum(len(rows) for rows in plan.values())
        self.step(f"enrol {tier}", 0, total)
        accepted: list[Enrolment] = []
        # One institution after the other: two institutions' uploads at once race for the people both claim
        # (the service refuses one whole upload as `raced`, to be sent again), and were no faster on 2 cores.
        for institution, rows in plan.items():
            rng.shuffle(rows)
            ordinary = [r for r in rows if r.kind is None]  # a walk-in's refusal is the request's (no row codes)
            singles = ordinary[: max(1, len(rows) // 200)]
            await self._send(institution, rows, singles, accepted, f"enrol {tier}")
        await self._respelled(tier, accepted, passers)  # the other half: known people spelled another way
        return accepted

    async def _send(
        self,
        institution: str,
        rows: list[Planned],
        singles: list[Planned],
        accepted: list[Enrolment],
        phase: str | None = None,
    ) -> None:
        """A few walk-ins enrolled one by one (several in flight), the rest as bulk uploads; every answer is
        counted, and the accepted ones are added to `accepted` in the order of `singles` then `rows`."""

        async def walk_in(planned: Planned, slot: list[Answer]) -> None:
            answer = await self._enrolling(
                f"{self.at.enrollment}/enrollments", {**self._key(institution)}, json=planned.row
            )
            self.sent.single_requests += 1
            if answer.status_code == 201:
                slot.append((planned, answer.json(), None))
            else:
                slot.append((planned, None, answer.json()["error"]["code"]))
            if phase:
                self.step(phase, 1, None)

        async def upload(part: list[Planned], slot: list[Answer]) -> None:
            async with self.uploads:
                answer = await self._enrolling(
                    f"{self.at.enrollment}/cohorts",
                    {**self._key(institution), "Content-Type": "application/x-ndjson"},
                    content="\n".join(json.dumps(p.row) for p in part),
                )
            if answer.status_code == 403:  # the whole upload refused (a suspended institution): every row is
                code = answer.json()["error"]["code"]
                slot.extend((planned, None, code) for planned in part)
                return
            if answer.status_code != 200:
                raise RuntimeError(f"POST /cohorts answered {answer.status_code}: {answer.text[:500]}")
            for planned, outcome in zip(part, answer.json()["results"], strict=True):
                if outcome["accepted"]:
                    made = {"id": outcome["enrollment_id"], "trainee_id": outcome["trainee_id"]}
                    slot.append((planned, made, None))
                else:
                    slot.append((planned, None, outcome["error"]["code"]))
            if phase:
                self.step(phase, len(part), None)

        chosen = {id(p) for p in singles}
        parts = by_person([p for p in rows if id(p) not in chosen], CHUNK)
        answers: list[list[Answer]] = [[] for _ in range(len(singles) + len(parts))]
        # the walk-ins first, as at the counter, then the uploads, a few at once (they share no person: see _enrol)
        await in_parallel([walk_in(p, slot) for p, slot in zip(singles, answers, strict=False)], gate=self.singles)
        await asyncio.gather(*(upload(part, slot) for part, slot in zip(parts, answers[len(singles) :], strict=True)))
        for slot in answers:  # counted in a fixed order, whatever order the answers came in
            for planned, made, code in slot:
                self._answered(planned, institution, accepted, made, code)

    async def _enrolling(self, url: str, headers: dict[str, str], **body: Any) -> httpx.Response:
        """An enrolment request; refused as `raced` (another request, e.g. another institution's upload in
        flight at the same time, enrolled the same person in the same tier: nothing was enrolled), it is sent
        again as a new request, and then answered as if it had come second."""
        for attempt in range(RACED_RETRIES + 1):
            answer = await self.http.post(url, headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, **body)
            if answer.status_code != 409 or answer.json().get("error", {}).get("code") != "raced":
                break
            await asyncio.sleep(0.05 * (attempt + 1))
        return answer

    def _answered(
        self,
        planned: Planned,
        institution: str,
        accepted: list[Enrolment],
        answer: dict[str, Any] | None,
        code: str | None = None,
    ) -> None:
        """Count what the service said (an accepted hostile row is counted as accepted: the checks catch it)."""
        if planned.kind is not None:
            self.sent.hostile[(planned.kind, code or "accepted")] += 1
        if answer is not None:
            accepted.append(self._accepted(answer, planned.person, institution, str(planned.row["tier"]), planned.row))
        else:
            assert code is not None
            self.sent.refused[code] += 1

    async def _respelled(self, tier: str, accepted: list[Enrolment], passers: list[Person]) -> None:
        """People the services know, enrolled again under another spelling of their number: all refused."""
        rng, names, index = self.rng, list(self.sent.institutions), TIERS.index(tier)
        ours = [e for e in accepted if e.tier == tier]
        kinds = ["respelled, same institution", "respelled, another institution"]
        if index > 0 and passers:
            kinds.append("respelled, a tier already passed")
        if index < len(TIERS) - 1:
            kinds.append("respelled, the next tier too early")
        if not ours:
            return
        by_sender: dict[str, list[Planned]] = {}
        # the candidates, built once per pool (not once per hostile row: ~100k candidates x ~500 rows)
        pools: dict[tuple[bool, bool], list[tuple[Person, Enrolment | None]]] = {}

        def candidates(passed: bool, lowercase_x: bool) -> list[tuple[Person, Enrolment | None]]:
            if (passed, lowercase_x) not in pools:
                pool: list[tuple[Person, Enrolment | None]] = (
                    [(p, None) for p in passers]  # e.g. a basic passer back in basic
                    if passed
                    else [(e.person, e) for e in ours]
                )
                if lowercase_x:  # only numbers ending in X have one
                    pool = [c for c in pool if c[0].id_number.endswith("X")] or pool
                pools[(passed, lowercase_x)] = pool
            return pools[(passed, lowercase_x)]

        count = hostile.share(len(ours), self.size.hostile_rate / 2, max(len(kinds), len(hostile.FORMS)))
        for number in range(count):
            kind, form = kinds[number % len(kinds)], hostile.FORMS[number % len(hostile.FORMS)]
            passed_already = kind == "respelled, a tier already passed"
            person, enrolment = rng.choice(candidates(passed_already, form == "lowercase x"))
            if enrolment is None:
                send_tier, starts_on, sender = TIERS[index - 1], start_date(rng), rng.choice(names)
            else:
                send_tier, starts_on, sender = tier, enrolment.starts_on, enrolment.institution
                if kind == "respelled, another institution":
                    sender = rng.choice([n for n in names if n != enrolment.institution])
                elif kind == "respelled, the next tier too early":
                    send_tier, sender = TIERS[index + 1], rng.choice(names)
            if form == "lowercase x" and not person.id_number.endswith("X"):
                form = "full-width digits"
            row = enrolment_row(person, send_tier, self._mode(sender), starts_on)
            row["id_number"] = hostile.respell(person.id_number, form, rng)
            self.sent.respelled[form] += 1
            by_sender.setdefault(sender, []).append(Planned(person, row, kind))
        await asyncio.gather(*(self._send(sender, rows, rows[:1], accepted) for sender, rows in by_sender.items()))

    def _accepted(
        self, answer: dict[str, Any], person: Person | None, institution: str, tier: str, row: dict[str, object]
    ) -> Enrolment:
        assert person is not None, "a broken row was accepted"
        self.sent.accepted[tier] += 1
        self.sent.by_group[(tier, person.target_group)] += 1
        self.sent.trainees.add(answer["trainee_id"])
        self.sent.people.add(person.id_number)
        return Enrolment(
            answer["id"], answer["trainee_id"], person, institution, tier, date.fromisoformat(str(row["starts_on"]))
        )

    async def _finish(self, tier: str, enrolments: list[Enrolment]) -> list[Person]:
        """Some withdraw; the rest finish their course, most passing. Returns who passed.

        The withdrawals (a few a request each, the rest in bulk) go out while the completions are uploaded (several
        uploads at once);
        the institution suspended mid-run has its withdrawals through before its suspension, and reports its
        completions while suspended, alongside the others'."""
        rng = self.rng
        passers: list[Person] = []
        enrolments = await self._bad_completions(tier, [e for e in enrolments if e.tier == tier], passers)
        leaving = [e for e in enrolments if rng.random() < self.size.withdraw_rate]
        gone = {e.id for e in leaving}
        staying = [e for e in enrolments if e.id not in gone]
        self.step(f"finish {tier}", 0, len(enrolments))

        async def withdraw(enrolment: Enrolment) -> None:
            await self._call(
                "POST",
                f"{self.at.enrollment}/enrollments/{enrolment.id}/withdrawal",
                headers=self._key(enrolment.institution),
                json={"reason": REASON},
            )
            self.sent.withdrawn[tier] += 1
            self.step(f"finish {tier}", 1, None)

        async def withdraw_in_bulk(institution: str, part: list[Enrolment]) -> None:
            async with self.uploads:
                result = await self._call(
                    "POST",
                    f"{self.at.enrollment}/withdrawals",
                    content="\n".join(json.dumps({"enrollment_id": e.id, "reason": REASON}) for e in part),
                    headers={**self._key(institution), "Content-Type": "application/x-ndjson"},
                )
            for outcome in result["results"]:
                if not outcome["accepted"]:
                    raise RuntimeError(f"withdrawal refused: {outcome['error']}")
            self.sent.withdrawn[tier] += len(part)
            self.step(f"finish {tier}", len(part), None)

        async def withdrawals(institution: str) -> None:
            """A few leave one by one (a request each, several in flight), the rest in the institution's report."""
            mine = [e for e in leaving if e.institution == institution]
            singles = mine[: max(1, len(mine) // SINGLE_WITHDRAWALS)]
            await asyncio.gather(
                in_parallel([withdraw(e) for e in singles], gate=self.singles),
                *(withdraw_in_bulk(institution, part) for part in chunks(mine[len(singles) :], CHUNK)),
            )

        by_institution: dict[str, list[tuple[Enrolment, dict[str, object]]]] = {}
        for enrolment in staying:
            passed = rng.random() >= self.size.fail_rate
            row: dict[str, object] = {
                "enrollment_id": enrolment.id,
                "passed": passed,
                "completed_on": course_end(rng, enrolment.starts_on).isoformat(),
            }
            if passed:
                row["outcome"] = rng.choices(_OUTCOMES, cum_weights=_OUTCOMES_CUMULATIVE)[0]
            by_institution.setdefault(enrolment.institution, []).append((enrolment, row))
        hostile_run = tier == "professional" and self.size.hostile_rate > 0
        suspended = self._to_suspend(by_institution) if hostile_run else None

        async def report(institution: str, part: list[tuple[Enrolment, dict[str, object]]]) -> None:
            async with self.uploads:
                result = await self._call(
                    "POST",
                    f"{self.at.enrollment}/completions",
                    content="\n".join(json.dumps(r) for _, r in part),
                    headers={**self._key(institution), "Content-Type": "application/x-ndjson"},
                )
            for (_, row), outcome in zip(part, result["results"], strict=True):
                if not outcome["accepted"]:
                    raise RuntimeError(f"completion refused: {outcome['error']}")
                if institution == suspended and self.sent.suspension is not None:
                    self.sent.suspension.passed += bool(row["passed"])
                    self.sent.suspension.failed += not row["passed"]
            self.step(f"finish {tier}", len(part), None)

        async def suspend_then_report(institution: str) -> None:
            """Its withdrawals through, the institution is suspended, reports its completions, is reinstated."""
            await withdrawals(institution)
            await self._suspend(institution, sum(e.institution == institution for e in leaving))
            await asyncio.gather(*(report(institution, part) for part in chunks(by_institution[institution], CHUNK)))
            await self._while_suspended_then_reinstate()

        await asyncio.gather(
            *(withdrawals(institution) for institution in sorted({e.institution for e in leaving} - {suspended})),
            *(
                report(institution, part)
                for institution in by_institution
                if institution != suspended
                for part in chunks(by_institution[institution], CHUNK)
            ),
            *([suspend_then_report(suspended)] if suspended is not None else []),
        )
        for institution in sorted(by_institution, key=lambda name: name == suspended):  # in a fixed order
            for enrolment, row in by_institution[institution]:
                self._completed(enrolment, row, passers)
        return passers

    def _completed(self, enrolment: Enrolment, row: dict[str, object], passers: list[Person]) -> None:
        if row["passed"]:
            enrolment.person.ready_on = date.fromisoformat(str(row["completed_on"]))
            self.sent.passed[enrolment.tier] += 1
            passers.append(enrolment.person)
            if enrolment.tier == "senior":
                self.sent.senior_passers.add(enrolment.trainee_id)
        else:
            self.sent.failed[enrolment.tier] += 1

    async def _bad_completions(self, tier: str, enrolments: list[Enrolment], passers: list[Person]) -> list[Enrolment]:
        """Completion rows that must be refused (out of the period, in the future, too short, another
        institution's enrolment); the enrolments stay open and are then finished properly. Returns the
        enrolments still open (all of them, unless a bad row was accepted: then it is counted as sent)."""
        rng, names = self.rng, list(self.sent.institutions)
        kinds = list(hostile.BAD_COMPLETIONS)
        targets = rng.sample(
            enrolments, min(len(enrolments), hostile.share(len(enrolments), self.size.hostile_rate, len(kinds)))
        )
        by_sender: dict[str, list[tuple[Enrolment, dict[str, object], str]]] = {}
        for number, enrolment in enumerate(targets):
            kind = kinds[number % len(kinds)]
            sender = enrolment.institution
            if kind == "another institution's enrolment":
                sender = rng.choice([n for n in names if n != enrolment.institution])
            row: dict[str, object] = {
                "enrollment_id": enrolment.id,
                "passed": True,
                "completed_on": hostile.bad_completion(kind, enrolment.starts_on, rng).isoformat(),
                "outcome": "employed",
            }
            by_sender.setdefault(sender, []).append((enrolment, row, kind))
        refused: list[Enrolment] = []
        finished: set[str] = set()

        async def report(sender: str, rows: list[tuple[Enrolment, dict[str, object], str]]) -> Any:
            async with self.uploads:
                return await self._call(
                    "POST",
                    f"{self.at.enrollment}/completions",
                    content="\n".join(json.dumps(r) for _, r, _ in rows),
                    headers={**self._key(sender), "Content-Type": "application/x-ndjson"},
                )

        results = await asyncio.gather(*(report(sender, rows) for sender, rows in by_sender.items()))
        for rows, result in zip(by_sender.values(), results, strict=True):
            for (enrolment, row, kind), outcome in zip(rows, result["results"], strict=True):
                if outcome["accepted"]:  # a product bug: counted as what it is, and the checks say so
                    self.sent.hostile[(kind, "accepted")] += 1
                    self._completed(enrolment, row, passers)
                    finished.add(enrolment.id)
                else:
                    code = outcome["error"]["code"]
                    self.sent.hostile[(kind, code)] += 1
                    self.sent.completion_refused[code] += 1
                    refused.append(enrolment)
        still_open = 0

        async def look(enrolment: Enrolment) -> None:
            nonlocal still_open
            found = await self._call(
                "GET", f"{self.at.enrollment}/enrollments/{enrolment.id}", headers=self._key(enrolment.institution)
            )
            still_open += found["status"] == "open"

        await in_parallel([look(e) for e in refused], gate=self.singles)
        rows_refused, found_open = self.sent.completions_refused_then_open
        self.sent.completions_refused_then_open = (rows_refused + len(refused), found_open + still_open)
        return [e for e in enrolments if e.id not in finished]

    # --- a suspension mid-run: completions held by funding, decided on reinstatement -------------

    def _to_suspend(self, by_institution: dict[str, list[tuple[Enrolment, dict[str, object]]]]) -> str | None:
        """The institution with the fewest (but some) passed completions to report: suspended before it does."""
        passed = {name: sum(bool(r["passed"]) for _, r in rows) for name, rows in by_institution.items()}
        candidates = sorted((count, name) for name, count in passed.items() if count)
        return candidates[0][1] if candidates else None

    async def _suspend(self, institution: str, withdrawn: int) -> None:
        institution_id = self.sent.institutions[institution][0]
        reason = "inspection: attendance sheets do not match the live-room logs"
        self.sent.suspension = Suspension(institution, institution_id, reason, withdrawn=withdrawn)
        await self._call(
            "POST",
            f"{self.at.enrollment}/institutions/{institution_id}/suspension",
            headers=self.bureau,
            json={"reason": reason},
        )

    async def _while_suspended_then_reinstate(self) -> None:
        """The suspended institution tries to enrol; funding holds its completions; finance releases its
        reservations; then the Bureau reinstates it (funding decides what it held)."""
        suspension = self.sent.suspension
        assert suspension is not None
        name, institution_id = suspension.institution, suspension.institution_id
        person = self.people.person()
        row = enrolment_row(person, "basic", self._mode(name), start_date(self.rng))
        await self._send(name, [Planned(person, row, hostile.SUSPENDED)], [], [])
        await self._send(name, [], [Planned(person, row, hostile.SUSPENDED)], [])  # and one walk-in
        deadline = time.monotonic() + 120
        while True:  # until funding has seen every completion and withdrawal the institution reported
            answer = await self._funding(
                "GET", f"/institutions/{institution_id}/statement", params={"details": "false"}
            )
            totals = answer.json()["totals"] if answer.status_code == 200 else []
            status = await self._funding("GET", f"/institutions/{institution_id}")
            suspension.funding_status = status.json().get("status", "?") if status.status_code == 200 else "?"
            suspension.held_seen = professional(totals, "held")
            suspension.rejected_seen = professional(totals, "rejected", "assessment_failed")
            suspension.committed_yuan = professional(totals, "held", field="amount_yuan") + professional(
                totals, "reserved", field="amount_yuan"
            )
            seen = (
                suspension.held_seen,
                suspension.rejected_seen,
                professional(totals, "withdrawn"),
                professional(totals, "reserved"),
                suspension.funding_status,
            )
            if seen == (suspension.passed, suspension.failed, suspension.withdrawn, 0, "suspended"):
                break
            if time.monotonic() > deadline:
                break  # the checks will say what funding missed
            await asyncio.sleep(0.3)
        active = next(i for n, (i, _) in self.sent.institutions.items() if n != name)
        refusal = await self._funding(
            "POST", f"/institutions/{active}/reservations/release", json={"reason": "by mistake"}
        )
        suspension.release_active_refusal = (
            refusal.json()["error"]["code"] if refusal.status_code >= 400 else f"answered {refusal.status_code}"
        )
        released = await self._funding(
            "POST",
            f"/institutions/{institution_id}/reservations/release",
            json={"reason": "institution under inspection"},
        )
        released.raise_for_status()
        suspension.released_count = released.json()["released_count"]
        suspension.released_yuan = released.json()["released_yuan"]
        await self._call(
            "POST",
            f"{self.at.enrollment}/institutions/{institution_id}/reinstatement",
            headers=self.bureau,
            json={"reason": "inspection closed: records corrected"},
        )

    async def _talent_office(self) -> None:
        """A few influencers the city attracts: some qualify, some fall short, some are not verified yet."""
        office = {"X-API-Key": self.at.office_key, "X-Actor": "talent-officer"}
        cases = [
            ("Cashmere Queen", 2_400_000, True),
            ("Pear Orchard Live", 1_300_000, True),
            ("Ceramics Master Gao", 1_050_000, True),
            ("Rising Star Li", 400_000, True),
            ("Unverified Fan Favourite", 3_000_000, False),
        ]
        self.step("talent office", 0, len(cases))
        for name, followers, verify in cases:
            talent = await self._call(
                "POST",
                f"{self.at.talent_card}/talents",
                headers=office,
                json={
                    "id_number": self.people.person().id_number,
                    "display_name": f"{name} ({self.sent.run})",
                    "evidence": [
                        {"kind": "followers", "platform": "Douyin", "value": followers},
                        {"kind": "local_presence", "detail": "live room in Shijiazhuang"},
                    ],
                },
            )
            if verify:
                for item in talent["evidence"]:
                    talent = await self._call(
                        "POST",
                        f"{self.at.talent_card}/talents/{talent['id']}/evidence/{item['id']}/verification",
                        headers=office,
                        json={"verified": True, "note": "platform page checked"},
                    )
            self.sent.talents.append(talent)
            self.sent.expected_introduced += int(verify and followers >= 1_000_000)
            self.step("talent office", 1, None)


def professional(totals: list[dict[str, Any]], status: str, reason: str | None = None, field: str = "count") -> int:
    """A professional-tier figure of an institution's statement totals (by status, tier and reason)."""
    return sum(
        r[field] or 0
        for r in totals
        if r["status"] == status and r["tier"] == "professional" and reason in (None, r["reason"])
    )


async def play(endpoints: Endpoints, size: Size, seed: int, step: Step) -> Sent:
    return await Simulation(endpoints, size, seed, step).play()


async def settle(endpoints: Endpoints, sent: Sent, step: Step, timeout: float = 600) -> None:
    """Wait until funding decided every completion (none left held: the suspended institution is reinstated)
    and the talent office got every plan-route notice."""
    expected = sum(sent.passed[t] + sent.failed[t] for t in ("professional", "senior"))
    step("funding decisions", 0, expected)
    async with client(timeout=60) as http:
        deadline, done = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            try:
                totals = await funding_totals(http, endpoints, sent)
                active = await reinstated(http, endpoints, sent)
            except (httpx.TransportError, httpx.HTTPStatusError):  # a service restarting: ask again shortly
                await asyncio.sleep(0.5)
                continue
            decided = sum(r["count"] for r in totals if r["status"] in ("approved", "rejected", "paid", "reversed"))
            waiting = sum(r["count"] for r in totals if r["status"] in ("reserved", "held"))
            step("funding decisions", decided - done, None)
            done = decided
            if decided >= expected and waiting == 0 and active:  # held completions decided on reinstatement
                break
            await asyncio.sleep(0.5)
        else:
            raise TimeoutError(f"funding decided {done} of {expected} completions in {timeout:.0f}s")
        seniors = sum(
            r["count"]
            for r in await funding_totals(http, endpoints, sent)
            if r["status"] == "approved" and r["tier"] == "senior"
        )
        step("green-card notices", 0, seniors)
        while time.monotonic() < deadline:
            try:
                noticed = len(await notices(http, endpoints, "plan", sent.trainees))
            except httpx.TransportError:
                await asyncio.sleep(0.5)
                continue
            if noticed >= seniors:
                step("green-card notices", seniors, None)
                return
            await asyncio.sleep(0.5)
        raise TimeoutError("the talent office did not receive every plan-route notice")


async def reinstated(http: httpx.AsyncClient, endpoints: Endpoints, sent: Sent) -> bool:
    """Whether funding knows the suspended institution (if any) is active again."""
    if sent.suspension is None:
        return True
    return await funding_status(http, endpoints, sent.suspension.institution_id) == "active"


async def funding_status(http: httpx.AsyncClient, endpoints: Endpoints, institution_id: str) -> str:
    """Funding's view of an institution's standing (learnt from enrollment's events)."""
    answer = await http.get(
        f"{endpoints.funding}/institutions/{institution_id}", headers={"X-API-Key": endpoints.finance_key}
    )
    answer.raise_for_status()
    return str(answer.json()["status"])


async def enrollment_status(http: httpx.AsyncClient, endpoints: Endpoints, institution_id: str) -> str:
    """The Bureau's view of an institution's standing."""
    answer = await http.get(f"{endpoints.enrollment}/institutions", headers={"X-API-Key": endpoints.bureau_key})
    answer.raise_for_status()
    return next((str(i["status"]) for i in answer.json() if str(i["id"]) == institution_id), "unknown")


async def funding_totals(http: httpx.AsyncClient, endpoints: Endpoints, sent: Sent) -> list[dict[str, Any]]:
    finance = {"X-API-Key": endpoints.finance_key}
    rows: list[dict[str, Any]] = []
    for institution_id, _ in sent.institutions.values():
        answer = await http.get(
            f"{endpoints.funding}/institutions/{institution_id}/statement", params={"details": "false"}, headers=finance
        )
        answer.raise_for_status()
        rows.extend(answer.json()["totals"])
    return rows


async def notices(http: httpx.AsyncClient, endpoints: Endpoints, route: str, people: set[str]) -> list[dict[str, Any]]:
    """The talent office's notices on `route` for these people."""
    office = {"X-API-Key": endpoints.office_key}
    found, offset = [], 0
    while True:
        page = (
            await http.get(
                f"{endpoints.talent_card}/notices",
                params={"route": route, "limit": 1000, "offset": offset},
                headers=office,
            )
        ).json()
        found += [n for n in page if n["person_id"] in people]
        if len(page) < 1000:
            return found
        offset += 1000
