"""Benchmark: completion → `subsidy-approved` on Kafka, p50/p95/p99 at a fixed rate of completions.

    flock /tmp/plan-services.lock .venv/bin/python -m benchmarks.latency --rate 20 --rate 200 --seconds 10

Starts the funding service as a real uvicorn process (on a free port, on a fresh database of its own,
`talentplan_latency`, dropped after) in a fresh consumer group that starts at the end of its input topics.
For each rate it first sends one professional `trainee-enrolled` per completion to come (funding reserves
the rate for it) and waits until the group has consumed them; then it sends `tier-completed` (passed)
straight to Kafka at a fixed rate for `--seconds` and reads `subsidy-approved`, matching approvals to
completions by enrollment id. A completion's latency runs from its scheduled send time (so a sender that
falls behind does not hide the delay) until the approval was read from the broker; the first
`--warmup` seconds of each rate are sent but not counted.

Where the slowest 1 % spent their time, on the wall clock: until funding decided (the approval's `occurred_at`),
until its relay sent it (the record's timestamp) and until it was read. Meanwhile a thread times the disk's
flushes beside PostgreSQL's data (`FlushProbe`): each decision commits before its approval can be sent, so a
flush that stalls delays every completion decided meanwhile (docs/performance.md, "Eleventh round").

The events go to the plan's real topics, which the running services also consume. So that the development
funding does not pay them from its fund, they are dated before the plan's period (completed in 2019):
the development funding rejects them as outside the plan's period (releasing its reservations), while this
benchmark's funding runs with a copy of the policy whose period starts in 2019 and whose fund is large, so it
approves them through the same path as any in-period completion (reservation, then approval). The
development services' own work on these events is load on the same machine: run it on a quiet one.
"""

import asyncio
import contextlib
import gc
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import asyncpg
import httpx
import typer
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from funding.policy import DEFAULT_POLICY
from infra import kafka, postgres, services
from plan_events import (
    EnrollmentWithdrawn,
    InstitutionReinstated,
    InstitutionSuspended,
    Mode,
    SubsidyApproved,
    TargetGroup,
    Tier,
    TierCompleted,
    TraineeEnrolled,
)

DATABASE = "talentplan_latency"
INPUTS = (
    TraineeEnrolled.topic,
    TierCompleted.topic,
    EnrollmentWithdrawn.topic,
    InstitutionSuspended.topic,
    InstitutionReinstated.topic,
)
STARTS_ON, COMPLETED_ON = date(2019, 6, 1), date(2019, 6, 20)  # before the plan's period: see the docstring


@dataclass
class Percentiles:
    rate: int
    sent: int
    matched: int
    p50: float
    p95: float
    p99: float
    worst: float
    tail: tuple[float, float, float]  # the slowest 1 %: mean ms to funding's decision, to the relay's send, to read
    flushes: "Flushes"  # the disk's own flush times meanwhile

    def line(self) -> str:
        decided, sent, read = self.tail
        return (
            f"completion → subsidy-approved at {self.rate}/s: p50 {self.p50:.1f} ms, p95 {self.p95:.1f} ms, "
            f"p99 {self.p99:.1f} ms, max {self.worst:.1f} ms ({self.matched:,}/{self.sent:,} approvals read); "
            f"the slowest 1 % spent on average {decided:.1f} ms until funding decided, {sent:.1f} until its relay "
            f"sent the approval, {read:.1f} until it was read; {self.flushes.line()}"
        )


@dataclass
class Flushes:
    """How long the disk under PostgreSQL's WAL took to flush 8 kB, probed every 20 ms while the rate ran. Every
    decision commits (synchronous commit) before its approval can be sent, and concurrent commits share a flush:
    a flush that stalls holds every completion decided meanwhile, and the ones queued behind them."""

    count: int
    p50: float
    worst: float
    over_50: int  # flushes slower than the p99 target on their own

    def line(self) -> str:
        return (
            f"the disk's flushes meanwhile: p50 {self.p50:.2f} ms, max {self.worst:.0f} ms, "
            f"{self.over_50} of {self.count:,} over 50 ms"
        )


class FlushProbe:
    """A thread that writes 8 kB in place into a file beside PostgreSQL's data directory and `fdatasync`s it every
    20 ms (what a commit's WAL flush asks of the disk), timing each flush; a thread, so this process's event loop
    does not wait on it."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, name="flush-probe", daemon=True)

    def __enter__(self) -> "FlushProbe":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _probe(self) -> None:
        with tempfile.NamedTemporaryFile(dir=postgres.HOME, prefix="flush-probe-") as file:
            file.write(b"\0" * 8192)
            file.flush()
            os.fsync(file.fileno())
            while not self._stop.wait(0.02):
                os.pwrite(file.fileno(), os.urandom(8192), 0)
                started = time.perf_counter()
                os.fdatasync(file.fileno())
                self.times.append((time.perf_counter() - started) * 1000)

    def summary(self) -> Flushes:
        times = sorted(self.times) or [0.0]
        return Flushes(len(self.times), statistics.median(times), times[-1], sum(t > 50 for t in times))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_policy(directory: Path) -> Path:
    """The funding policy with its period starting in 2019 and a fund nobody exhausts here."""
    policy = tomllib.loads(DEFAULT_POLICY.read_text())
    period = f"period = {{ starts_on = 2019-01-01, ends_on = {policy['period']['ends_on']}, grace_days = 0 }}"
    text = "\n".join(
        period
        if line.startswith("period")
        else "fund_yuan = 100_000_000_000"
        if line.startswith("fund_yuan")
        else f'version = "{policy["version"]}-latency-bench"'
        if line.startswith("version")
        else line
        for line in DEFAULT_POLICY.read_text().splitlines()
    )
    path = directory / "policy.toml"
    path.write_text(text + "\n")
    return path


async def partitions_of(topics: tuple[str, ...]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.BOOTSTRAP)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
        return [TopicPartition(d["topic"], p["partition"]) for d in described for p in d.get("partitions", [])]
    finally:
        await admin.close()


async def group_starts_at_end(group: str) -> None:
    """Commit the group's offsets at its input topics' ends: it skips everything sent before."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.BOOTSTRAP, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(INPUTS)
        consumer.assign(partitions)
        await consumer.commit(dict(await consumer.end_offsets(partitions)))
    finally:
        await consumer.stop()


async def caught_up(group: str, timeout: float = 120) -> None:
    """Wait until the group's committed offsets reach the ends of its input topics."""
    partitions = await partitions_of(INPUTS)
    probe = AIOKafkaConsumer(bootstrap_servers=kafka.BOOTSTRAP)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.BOOTSTRAP)
    await probe.start()
    await admin.start()
    try:
        ends = await probe.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = {tp: m.offset for tp, m in (await admin.list_consumer_group_offsets(group)).items()}
            if all(done.get(tp, 0) >= end for tp, end in ends.items()):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{group} did not consume the enrolments in {timeout:.0f} s")
    finally:
        await admin.close()
        await probe.stop()


def start_funding(group: str, port: int, policy: Path, log: Path) -> subprocess.Popen[bytes]:
    postgres.fresh_database(DATABASE)
    env = {
        **services.inherited(),
        **services.environment("funding"),
        "DATABASE_URL": postgres.service_url("funding", DATABASE),
        "CONSUMER_GROUP": group,
        "CONSUMER_INSTANCE_ID": f"{group}-{port}",
        "POLICY_FILE": str(policy),
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "funding.main:build_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", *services.SERVER]
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            report = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=3).json()
            consumers = report.get("consumers", {}).values()
            if consumers and all(c["partitions_assigned"] > 0 for c in consumers):
                return process
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit(f"funding did not start consuming on port {port}; see {log}")


def enrolment(institution: uuid.UUID) -> TraineeEnrolled:
    trainee = f"latency-{uuid.uuid4().hex[:12]}"
    return TraineeEnrolled.create(
        source="enrollment",
        subject=trainee,
        occurred_at=datetime(2019, 6, 1, 9, 0, tzinfo=UTC),
        enrollment_id=uuid.uuid4(),
        trainee_id=trainee,
        institution_id=institution,
        tier=Tier.PROFESSIONAL,
        target_group=TargetGroup.RURAL_HOUSEHOLD,
        mode=Mode.OFFLINE,
        starts_on=STARTS_ON,
        niche="cashmere and fur",
    )


def completion(enrolled: TraineeEnrolled) -> TierCompleted:
    return TierCompleted.create(
        source="enrollment",
        subject=enrolled.trainee_id,
        occurred_at=datetime(2019, 6, 20, 9, 0, tzinfo=UTC),
        caused_by=enrolled,
        enrollment_id=enrolled.enrollment_id,
        trainee_id=enrolled.trainee_id,
        institution_id=enrolled.institution_id,
        tier=enrolled.tier,
        target_group=enrolled.target_group,
        completed_on=COMPLETED_ON,
        passed=True,
    )


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(share * len(ordered)))) - 1]


async def one_rate(producer: AIOKafkaProducer, group: str, rate: int, seconds: float, warmup: float) -> Percentiles:
    institution = uuid.uuid4()
    count = int(rate * (seconds + warmup))
    enrolled = [enrolment(institution) for _ in range(count)]
    await asyncio.gather(*[await producer.send(e.topic, e.to_bytes(), key=e.key()) for e in enrolled])
    await caught_up(group)
    completions = [completion(e) for e in enrolled]
    encoded = [(c.topic, c.to_bytes(), c.key(), str(c.enrollment_id)) for c in completions]

    reader = AIOKafkaConsumer(bootstrap_servers=kafka.BOOTSTRAP, enable_auto_commit=False, fetch_max_wait_ms=50)
    await reader.start()
    scheduled: dict[str, float] = {}
    arrived: dict[str, float] = {}
    # where the time went, on the wall clock (the approval's occurred_at is funding's decision, the record's
    # timestamp the relay's send): each approval's (decided, sent, read)
    stages: dict[str, tuple[float, float, float]] = {}
    try:
        partitions = await partitions_of((SubsidyApproved.topic,))
        ends = await reader.end_offsets(partitions)
        reader.assign(partitions)
        for partition, offset in ends.items():
            reader.seek(partition, offset)

        async def read() -> None:
            while len(arrived) < count:
                for part in (await reader.getmany(timeout_ms=100)).values():
                    now, wall = time.perf_counter(), time.time()
                    for record in part:
                        approval = json.loads(record.value or b"{}")
                        enrollment_id = approval.get("enrollment_id")
                        if enrollment_id in scheduled and enrollment_id not in arrived:
                            arrived[enrollment_id] = now
                            decided = datetime.fromisoformat(approval["occurred_at"]).timestamp()
                            stages[enrollment_id] = (decided, record.timestamp / 1000, wall)

        listening = asyncio.create_task(read())
        await asyncio.sleep(0.5)  # the reader's first fetch is in flight
        # this process's own pauses are not funding's latency: its garbage collector, which paused it for 39-51 ms
        # in the timed window (gc.callbacks), is off until the last approval is read
        gc.collect()
        gc.disable()
        started, wall_started, acks = time.perf_counter(), time.time(), []
        with FlushProbe() as probe:
            for n, (topic, value, key, enrollment_id) in enumerate(encoded):
                due = started + n / rate
                if (pause := due - time.perf_counter()) > 0:
                    await asyncio.sleep(pause)
                scheduled[enrollment_id] = due
                acks.append(await producer.send(topic, value, key=key))
            await asyncio.gather(*acks)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(listening, timeout=60)
    finally:
        gc.enable()
        await reader.stop()
    counted = [e for _, _, _, e in encoded[int(rate * warmup) :]]
    latencies = [(arrived[e] - scheduled[e]) * 1000 for e in counted if e in arrived]
    if not latencies:
        raise SystemExit(f"no subsidy-approved read back at {rate}/s: see the funding log")
    slowest = sorted((e for e in counted if e in arrived), key=lambda e: arrived[e] - scheduled[e])
    slowest = slowest[-max(1, len(slowest) // 100) :]
    sent_at = {e: wall_started + (scheduled[e] - started) for e in slowest}  # the scheduled send, on the wall clock
    tail = tuple(
        statistics.fmean(1000 * (stages[e][i] - (stages[e][i - 1] if i else sent_at[e])) for e in slowest)
        for i in range(3)
    )
    return Percentiles(
        rate,
        len(counted),
        len(latencies),
        statistics.median(latencies),
        percentile(latencies, 0.95),
        percentile(latencies, 0.99),
        max(latencies),
        tail,  # type: ignore[arg-type]
        probe.summary(),
    )


async def measure_all(group: str, rates: list[int], seconds: float, warmup: float) -> list[Percentiles]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.BOOTSTRAP, acks="all", enable_idempotence=True, linger_ms=0)
    await producer.start()
    try:
        return [await one_rate(producer, group, rate, seconds, warmup) for rate in rates]
    finally:
        await producer.stop()


def measure(rates: list[int], seconds: float = 10, warmup: float = 2) -> list[Percentiles]:
    group = f"funding-latency-{uuid.uuid4().hex[:6]}"
    asyncio.run(group_starts_at_end(group))
    with tempfile.TemporaryDirectory() as directory:
        policy = bench_policy(Path(directory))
        log = Path(directory) / "funding.log"
        process = start_funding(group, free_port(), policy, log)
        try:
            return uvloop.run(measure_all(group, rates, seconds, warmup))
        except BaseException:
            sys.stderr.write(log.read_text()[-4000:])
            raise
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            asyncio.run(drop_database())


async def drop_database() -> None:
    conn = await asyncpg.connect(postgres.admin_url("postgres"))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    finally:
        await conn.close()


def main(
    rate: Annotated[list[int] | None, typer.Option(min=1, help="completions per second (repeatable)")] = None,
    seconds: Annotated[float, typer.Option(min=1, help="seconds of completions counted per rate")] = 10,
    warmup: Annotated[float, typer.Option(min=0, help="seconds sent first at each rate, not counted")] = 2,
) -> None:
    """Send completions at fixed rates to a fresh funding process; print completion → approval percentiles."""
    for result in measure(rate or [20, 200], seconds, warmup):
        print(result.line())


if __name__ == "__main__":
    typer.run(main)
