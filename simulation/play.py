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
from typing import Any

import httpx

from simulation.cohort import (
    INSTITUTIONS,
    Person,
    Population,
    Size,
    course_end,
    enrolment_row,
    start_date,
)

TIERS = ("basic", "professional", "senior")
CHUNK = 5_000
OUTCOMES = (("employed", 60), ("own_business", 25), ("seeking", 15))

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
class Sent:
    """Everything the simulator did and was told, to reconcile the services' numbers against."""

    run: str
    institutions: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (id, key)
    accepted: Counter[str] = field(default_factory=Counter)  # by tier
    refused: Counter[str] = field(default_factory=Counter)  # by error code
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


async def in_parallel(calls: list[Coroutine[Any, Any, None]], limit: int = 8) -> None:
    """Like several clerks at their desks: at most `limit` requests in flight."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Coroutine[Any, Any, None]) -> None:
        async with gate:
            await call

    await asyncio.gather(*(one(c) for c in calls))


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Simulation:
    def __init__(self, endpoints: Endpoints, size: Size, seed: int, step: Step) -> None:
        self.at, self.size, self.step = endpoints, size, step
        self.rng = random.Random(seed)
        self.people = Population(self.rng)
        self.sent = Sent(run=uuid.uuid4().hex[:6])  # unique per run, whatever the seed
        self.http = httpx.AsyncClient(timeout=300)

    async def play(self) -> Sent:
        try:
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

    async def _accredit(self) -> None:
        bureau = {"X-API-Key": self.at.bureau_key, "X-Actor": "simulator"}
        for plan in INSTITUTIONS:
            name = f"{plan.name} ({self.sent.run})"
            created = await self._call(
                "POST", f"{self.at.enrollment}/institutions", headers=bureau, json={"name": name, "mode": plan.mode}
            )
            key = await self._call("POST", f"{self.at.enrollment}/institutions/{created['id']}/keys", headers=bureau)
            self.sent.institutions[plan.name] = (created["id"], key["api_key"])

    def _key(self, institution: str) -> dict[str, str]:
        return {"X-API-Key": self.sent.institutions[institution][1]}

    def _mode(self, institution: str) -> str:
        mode = next(p.mode for p in INSTITUTIONS if p.name == institution)
        return mode if mode != "both" else self.rng.choice(("online", "offline"))

    async def _enrol(self, tier: str, count: int, passers: list[Person]) -> list[Enrolment]:
        rng = self.rng
        names = [p.name for p in INSTITUTIONS]
        shares = [p.share for p in INSTITUTIONS]
        if tier == "basic":
            people = [self.people.person() for _ in range(count)]
        else:
            people = rng.sample(passers, min(count, len(passers)))
        plan: dict[str, list[tuple[Person | None, dict[str, object]]]] = {n: [] for n in names}
        for person in people:
            institution = rng.choices(names, shares)[0]  # the next tier often at another institution
            earliest = None if tier == "basic" else person.ready_on  # the next tier after the last one
            plan[institution].append(
                (person, enrolment_row(person, tier, self._mode(institution), start_date(rng, earliest)))
            )
        for institution in names:  # the mistakes real uploads have
            for _ in range(int(len(plan[institution]) * self.size.invalid_rate)):
                plan[institution].append((None, self.people.broken(self.people.person())))
            for _ in range(int(len(plan[institution]) * self.size.poach_rate)):
                other = rng.choice(names)
                if plan[other]:
                    victim, row = rng.choice(plan[other])
                    if victim is not None:
                        plan[institution].append((victim, {**row, "mode": self._mode(institution)}))
        total = sum(len(rows) for rows in plan.values())
        self.step(f"enrol {tier}", 0, total)
        accepted: list[Enrolment] = []
        for institution, rows in plan.items():
            rng.shuffle(rows)
            singles = rows[: max(1, len(rows) // 200)] if rows else []

            async def walk_in(person: Person | None, row: dict[str, object], institution: str = institution) -> None:
                answer = await self.http.post(
                    f"{self.at.enrollment}/enrollments",
                    json=row,
                    headers={**self._key(institution), "Idempotency-Key": str(uuid.uuid4())},
                )
                self.sent.single_requests += 1
                if answer.status_code == 201:
                    accepted.append(self._accepted(answer.json(), person, institution, tier, row))
                else:
                    self.sent.refused[answer.json()["error"]["code"]] += 1
                self.step(f"enrol {tier}", 1, None)

            await in_parallel([walk_in(person, row) for person, row in singles])  # a few walk-ins, one by one
            for part in chunks(rows[len(singles) :], CHUNK):
                body = "\n".join(json.dumps(r) for _, r in part)
                result = await self._call(
                    "POST",
                    f"{self.at.enrollment}/cohorts",
                    content=body,
                    headers={
                        **self._key(institution),
                        "Content-Type": "application/x-ndjson",
                        "Idempotency-Key": str(uuid.uuid4()),
                    },
                )
                for (person, row), outcome in zip(part, result["results"], strict=True):
                    if outcome["accepted"]:
                        accepted.append(
                            self._accepted(
                                {"id": outcome["enrollment_id"], "trainee_id": outcome["trainee_id"]},
                                person,
                                institution,
                                tier,
                                row,
                            )
                        )
                    else:
                        self.sent.refused[outcome["error"]["code"]] += 1
                self.step(f"enrol {tier}", len(part), None)
        return accepted

    def _accepted(
        self, answer: dict[str, Any], person: Person | None, institution: str, tier: str, row: dict[str, object]
    ) -> Enrolment:
        assert person is not None, "a broken row was accepted"
        self.sent.accepted[tier] += 1
        self.sent.by_group[(tier, person.target_group)] += 1
        self.sent.trainees.add(answer["trainee_id"])
        return Enrolment(
            answer["id"], answer["trainee_id"], person, institution, tier, date.fromisoformat(str(row["starts_on"]))
        )

    async def _finish(self, tier: str, enrolments: list[Enrolment]) -> list[Person]:
        """Some withdraw; the rest finish their course, most passing. Returns who passed."""
        rng = self.rng
        leaving = [e for e in enrolments if rng.random() < self.size.withdraw_rate]
        gone = {e.id for e in leaving}
        staying = [e for e in enrolments if e.id not in gone]
        self.step(f"finish {tier}", 0, len(enrolments))

        async def withdraw(enrolment: Enrolment) -> None:
            await self._call(
                "POST",
                f"{self.at.enrollment}/enrollments/{enrolment.id}/withdrawal",
                headers=self._key(enrolment.institution),
                json={"reason": "found a job before the end"},
            )
            self.sent.withdrawn[tier] += 1
            self.step(f"finish {tier}", 1, None)

        await in_parallel([withdraw(e) for e in leaving])
        passers: list[Person] = []
        by_institution: dict[str, list[tuple[Enrolment, dict[str, object]]]] = {}
        for enrolment in staying:
            passed = rng.random() >= self.size.fail_rate
            row: dict[str, object] = {
                "enrollment_id": enrolment.id,
                "passed": passed,
                "completed_on": course_end(rng, enrolment.starts_on).isoformat(),
            }
            if passed:
                enrolment.person.ready_on = date.fromisoformat(str(row["completed_on"]))
                outcomes, weights = zip(*OUTCOMES, strict=True)
                row["outcome"] = rng.choices(outcomes, weights)[0]
            by_institution.setdefault(enrolment.institution, []).append((enrolment, row))
        for institution, rows in by_institution.items():
            for part in chunks(rows, CHUNK):
                result = await self._call(
                    "POST",
                    f"{self.at.enrollment}/completions",
                    content="\n".join(json.dumps(r) for _, r in part),
                    headers={**self._key(institution), "Content-Type": "application/x-ndjson"},
                )
                for (enrolment, row), outcome in zip(part, result["results"], strict=True):
                    if not outcome["accepted"]:
                        raise RuntimeError(f"completion refused: {outcome['error']}")
                    if row["passed"]:
                        self.sent.passed[tier] += 1
                        passers.append(enrolment.person)
                        if tier == "senior":
                            self.sent.senior_passers.add(enrolment.trainee_id)
                    else:
                        self.sent.failed[tier] += 1
                self.step(f"finish {tier}", len(part), None)
        return passers

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


async def play(endpoints: Endpoints, size: Size, seed: int, step: Step) -> Sent:
    return await Simulation(endpoints, size, seed, step).play()


async def settle(endpoints: Endpoints, sent: Sent, step: Step, timeout: float = 600) -> None:
    """Wait until funding decided every completion and the talent office got every plan-route notice."""
    expected = sum(sent.passed[t] + sent.failed[t] for t in ("professional", "senior"))
    step("funding decisions", 0, expected)
    async with httpx.AsyncClient(timeout=60) as http:
        deadline, done = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            try:
                totals = await funding_totals(http, endpoints, sent)
            except (httpx.TransportError, httpx.HTTPStatusError):  # a service restarting: ask again shortly
                await asyncio.sleep(0.5)
                continue
            decided = sum(r["count"] for r in totals if r["status"] in ("approved", "rejected", "paid", "reversed"))
            reserved = sum(r["count"] for r in totals if r["status"] == "reserved")
            step("funding decisions", decided - done, None)
            done = decided
            if decided >= expected and reserved == 0:
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
