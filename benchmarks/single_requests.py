"""Benchmark: single requests to enrollment — walk-in enrolments, withdrawals and look-ups, a request each.

    flock /tmp/plan-services.lock .venv/bin/python -m benchmarks.single_requests --requests 2000 --in-flight 16
    .venv/bin/python -m benchmarks.single_requests --count      # statements per request type (no services needed)

Without `--count`: needs the services running (`python -m infra services start`); accredits a brand-new
institution with the Bureau's key, then sends N enrolments (`POST /enrollments`, brand-new people), N withdrawals
of them (`POST /enrollments/{id}/withdrawal`) and N look-ups (`GET /enrollments/{id}`), K requests in flight, each
write with an `Idempotency-Key` as the simulator sends it; prints requests/s and p50/p99 per type, and the
enrollment service's CPU time per request (its processes' user + system time over the phase, from /proc: on a
shared, saturated box a steadier figure than the rate).

With `--count`: runs the enrollment app in this process (its whole lifespan, on a throw-away schema created and
dropped with the admin role; the broker must be up) and sends a few requests of each type one at a time; every
byte the process writes to PostgreSQL during a request is decoded (frontend protocol messages), so it prints,
per request type, the round trips (socket writes) and the statements (simple queries and executed prepared
statements; a COPY is one) with their text. The relay's writes happen outside the requests and are not counted.
"""

import asyncio
import contextvars
import os
import random
import re
import statistics
import struct
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvloop

from infra import secrets, services
from infra.paths import LOCAL
from simulation.cohort import Population

REASON = {"reason": "found a job"}


def _body(number: str) -> dict[str, Any]:
    return {
        "id_number": number,
        "name": "Liu Jiaqi",
        "phone": "13800138000",
        "target_group": "rural_household",
        "tier": "basic",
        "mode": "offline",
        "starts_on": "2020-08-08",
        "niche": "cashmere and fur",
    }


def _numbers(count: int) -> list[str]:
    """Brand-new people's valid ID numbers (the simulator's population: a run-specific serial)."""
    people = Population(random.Random(7))
    return [people.person().id_number for _ in range(count)]


def _enrollment_cpu() -> float | None:
    """Seconds of CPU (user + system) the running enrollment service's processes have used (its uvicorn
    supervisor and workers, from /proc); None when it is not running here."""
    from benchmarks.__main__ import children

    try:
        pid = int((LOCAL / "run" / "enrollment.pid").read_text())
        total = 0
        for each in [pid, *children(pid)]:
            fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Timings:
    kind: str
    seconds: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    failed: int = 0
    cpu: float | None = None  # the enrollment service's CPU seconds over the phase

    def line(self) -> str:
        ordered = sorted(self.seconds)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        rate = len(ordered) / self.elapsed if self.elapsed else 0.0
        return (
            f"{self.kind:<10} {len(ordered):>6} requests in {self.elapsed:6.2f} s = {rate:7.1f} requests/s, "
            f"p50 {p50:6.1f} ms, p99 {p99:6.1f} ms"
            + (f", enrollment CPU {self.cpu / len(ordered) * 1000:5.2f} ms/request" if self.cpu is not None else "")
            + (f", {self.failed} FAILED" if self.failed else "")
        )


async def _phase(
    kind: str, count: int, in_flight: int, send: Callable[[int], Awaitable[httpx.Response]], ok: int
) -> Timings:
    timings = Timings(kind)
    gate = asyncio.Semaphore(in_flight)

    async def one(index: int) -> None:
        async with gate:
            started = time.perf_counter()
            answer = await send(index)
            timings.seconds.append(time.perf_counter() - started)
            if answer.status_code != ok:
                timings.failed += 1

    cpu, started = _enrollment_cpu(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    timings.elapsed = time.perf_counter() - started
    after = _enrollment_cpu()
    timings.cpu = None if cpu is None or after is None else after - cpu
    return timings


async def run(http: httpx.AsyncClient, bureau_key: str, count: int, in_flight: int) -> list[Timings]:
    """The three phases against `http` (the real service or an in-process app): enrol, withdraw, look up."""
    bureau = {"X-API-Key": bureau_key, "X-Actor": "benchmark"}
    created = await http.post("/institutions", headers=bureau, json={"name": f"Walk-in Room {uuid.uuid4().hex[:8]}"})
    created.raise_for_status()
    issued = await http.post(f"/institutions/{created.json()['id']}/keys", headers=bureau)
    issued.raise_for_status()
    key = issued.json()["api_key"]
    numbers = _numbers(count)
    ids: list[str] = [""] * count

    def headers() -> dict[str, str]:
        return {"X-API-Key": key, "Idempotency-Key": str(uuid.uuid4())}

    async def enrol(index: int) -> httpx.Response:
        answer = await http.post("/enrollments", headers=headers(), json=_body(numbers[index]))
        if answer.status_code == 201:
            ids[index] = answer.json()["id"]
        return answer

    enrolled = await _phase("enrol", count, in_flight, enrol, 201)
    done = [i for i in ids if i]

    async def withdraw(index: int) -> httpx.Response:
        return await http.post(f"/enrollments/{done[index]}/withdrawal", headers=headers(), json=REASON)

    async def look_up(index: int) -> httpx.Response:
        return await http.get(f"/enrollments/{done[index]}", headers={"X-API-Key": key})

    withdrawn = await _phase("withdraw", len(done), in_flight, withdraw, 200)
    looked = await _phase("look-up", len(done), in_flight, look_up, 200)
    return [enrolled, withdrawn, looked]


# --- counting what a request writes to PostgreSQL --------------------------------------------------------------

_KIND: contextvars.ContextVar[str | None] = contextvars.ContextVar("kind", default=None)


@dataclass
class Wire:
    """What the process wrote to PostgreSQL while a request of each kind ran (frontend protocol messages)."""

    writes: Counter[str] = field(default_factory=Counter)
    statements: dict[str, list[str]] = field(default_factory=dict)
    prepared: dict[bytes, str] = field(default_factory=dict)
    prepares: Counter[str] = field(default_factory=Counter)

    def record(self, data: bytes) -> None:
        kind = _KIND.get()
        if kind is not None:
            self.writes[kind] += 1
        found = [] if kind is None else self.statements.setdefault(kind, [])
        at = 0
        while at + 5 <= len(data):
            tag, length = data[at : at + 1], struct.unpack("!i", data[at + 1 : at + 5])[0]
            payload = data[at + 5 : at + 1 + length]
            at += 1 + length
            if tag == b"Q":  # a simple query (BEGIN, COMMIT, a COPY, a reset query)
                found.append(payload.rstrip(b"\0").decode(errors="replace"))
            elif tag == b"P":  # Parse: name, text (a statement prepared on first use on each connection)
                name, _, rest = payload.partition(b"\0")
                self.prepared[name] = rest.partition(b"\0")[0].decode(errors="replace")
                if kind is not None:
                    self.prepares[kind] += 1
            elif tag == b"B":  # Bind: portal, statement name
                name = payload.partition(b"\0")[2].partition(b"\0")[0]
                found.append(self.prepared.get(name, f"<prepared {name!r}>"))


@contextmanager
def _wire() -> Iterator[Wire]:
    from asyncio import selector_events

    transport: Any = selector_events._SelectorSocketTransport  # type: ignore[attr-defined]
    original = transport.write
    wire = Wire()

    def write(self: Any, data: Any) -> None:
        wire.record(bytes(data))
        original(self, data)

    transport.write = write
    try:
        yield wire
    finally:
        transport.write = original


WARM_UP = 10  # requests of each kind not counted


def _short(sql: str) -> str:
    return re.sub(r"_savepoint_[0-9a-f]+__", "_savepoint_N__", " ".join(sql.split()))[:110]


async def count(requests: int) -> None:
    """The enrollment app in this process on a throw-away schema; a few requests of each kind, one at a time."""
    import asyncpg

    from enrollment.main import build_app
    from enrollment.settings import Settings
    from infra import postgres

    admin_url = postgres.admin_url()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f"CREATE SCHEMA {schema}")
    settings = Settings(
        database_url=admin_url,
        migrate_on_start=True,
        db_schema=schema,
        kafka_bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        pii_hmac_key="benchmark-hmac-key",
        bureau_api_key="benchmark-bureau-key",
    )
    app = build_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://enrollment") as http:
                with _wire() as wire:
                    original = http.send

                    async def labelled(request: httpx.Request, **kwargs: Any) -> httpx.Response:
                        kind = _kind(request)
                        # the first requests of each kind prepare their statements on the pool's connections
                        token = _KIND.set(kind if sent[kind] >= WARM_UP else None)
                        try:
                            return await original(request, **kwargs)
                        finally:
                            _KIND.reset(token)
                            sent[kind] += 1

                    sent: Counter[str] = Counter()
                    http.send = labelled  # type: ignore[method-assign]
                    await run(http, "benchmark-bureau-key", requests + WARM_UP, 1)
        print(f"per request, after {WARM_UP} of each kind ({requests} counted each, one at a time):")
        for kind in ("enrol", "withdraw", "look-up"):
            counted = sent[kind] - WARM_UP
            statements = wire.statements.get(kind, [])
            print(
                f"\n{kind}: {wire.writes[kind] / counted:.1f} socket writes, "
                f"{len(statements) / counted:.1f} statements per request"
                + (f" ({wire.prepares[kind] / counted:.1f} statements prepared)" if wire.prepares[kind] else "")
            )
            for sql, times in Counter(map(_short, statements)).items():
                print(f"  {times / counted:4.1f} x {sql}")
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


def _kind(request: httpx.Request) -> str:
    path = request.url.path
    if request.method == "POST" and path == "/enrollments":
        return "enrol"
    if request.method == "POST" and path.endswith("/withdrawal"):
        return "withdraw"
    if request.method == "GET" and path.startswith("/enrollments/"):
        return "look-up"
    return "setup"


def main(
    requests: Annotated[int, typer.Option(min=1, help="requests of each type")] = 2000,
    in_flight: Annotated[int, typer.Option(min=1, help="requests in flight at once")] = 16,
    count_statements: Annotated[
        bool, typer.Option("--count", help="count statements per request type (in-process app, no services)")
    ] = False,
) -> None:
    """Send REQUESTS single enrolments, withdrawals and look-ups to enrollment; print requests/s, p50 and p99."""
    if count_statements:
        uvloop.run(count(min(requests, 20)))
        return

    async def against_service() -> list[Timings]:
        async with httpx.AsyncClient(base_url=services.url("enrollment"), timeout=60) as http:
            return await run(http, secrets.load()["BUREAU_API_KEY"], requests, in_flight)

    for timings in uvloop.run(against_service()):
        print(timings.line())


if __name__ == "__main__":
    typer.run(main)
