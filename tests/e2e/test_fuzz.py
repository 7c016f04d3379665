"""Kafka fuzz tier (issue 10, item 5): generated records on every consumed topic of the real broker.

The three services and the portal (the web front, which reads every plan topic into its read model) run as
real processes, on a database of their own (`talentplan_fuzz`), on ports of their
own (so a `make run` or another end-to-end module is left alone) and with consumer groups of their own that
start at the topics' ends. Hypothesis generates records over bytes, JSON shapes, headers, keys and sizes,
mixed with valid events (fresh ids); they are sent to every topic a service consumes, followed by valid events
whose effects are known. Records aiokafka's `send` refuses but the protocol allows (header keys that are not
UTF-8, as a Go or C client may send; neither key nor value) go through its pure-Python batch builder. Then,
within a bounded time:

(a) every record is accounted for, per consumer: each (topic, partition, offset) we sent is a dead letter, or
    its event id is in the inbox, or it is an event of no interest to that consumer (`Only`: a basic course for
    funding, any but a passed senior one for the talent office), in neither -- and which one is decided in
    advance by the same decoder the services use and their own handler maps (a hostile record must be a dead
    letter; one that decodes as an expected event must be in the inbox, or in neither if the consumer has no
    business with it; a business refusal is both, with the event id);
(b) each group's committed offsets reach the end of every partition of its topics;
(c) the three outboxes drain (nothing unpublished, nothing parked), and every dead letter reached the
    `dead-letter` topic, bounded in size;
(d) every service answers GET /health/ready 200 (the portal too), and every dead letter has its reason;
(e) the valid events sent after the fuzz were applied exactly once (a subsidy approved once, one notice).

FUZZ_RECORDS sets the number of generated records (CI: 1,500; `make fuzz`: 20,000); FUZZ_SEED replays a run's
records (same shapes, fresh ids; the seed is printed); FUZZ_TIMEOUT bounds the wait (seconds). Run with `-s`
to see the summary line.

Hypothesis makes at most 8,192 choices per example (a list of 1,500 records drawn in one example comes out
as 1,500 copies of the simplest record, and 20,000 is refused), so the records are drawn in chunks of CHUNK,
one chunk per example of one `@given` run.
"""

import asyncio
import contextlib
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from funding.handlers import consumes as funding_consumes
from funding.policy import DEFAULT_POLICY, load_policy
from infra import kafka, postgres, services
from plan_events import (
    Event,
    InvalidEvent,
    MessageDeadLettered,
    SubsidyApproved,
    SubsidyReversed,
    Tier,
    TierCompleted,
    TraineeEnrolled,
    Undecodable,
    UnknownEvent,
    decode,
)
from plan_runtime.consumer import Only
from portal.projection import consumes as portal_consumes
from talent_card.handlers import consumes as talent_card_consumes
from talent_card.rules import DEFAULT_RULES, load_rules
from tests.infrastructure import real_infrastructure
from tests.support.kafka import RawHeaderKey, committed, group_starts_at_end, partitions_of
from tests.support.plan import approval, completion, enrolment, person, reinstatement, suspension, withdrawal

FUZZ_DATABASE = "talentplan_fuzz"
RECORDS = int(os.environ.get("FUZZ_RECORDS", "1500"))
TIMEOUT = float(os.environ.get("FUZZ_TIMEOUT", str(90 + RECORDS * 0.02)))  # a passing run needs far less
CHUNK = 20  # records drawn per hypothesis example
BIG = 3 + RECORDS // 2500  # values of 800-940 KB: a few per run
MAX_RECORD = 1_000_000  # key + value + headers, below the producer's max_request_size (1 MiB) and the topic's

# service: its composition root's handler map (the fleet runs the default policy and rules), hence the events its
# inbox expects and their topics (talent-card reads subsidy-reversed too; the portal, the web front's read model,
# every plan topic)
HANDLED: dict[str, Mapping[type[Event], object]] = {
    "funding": funding_consumes(load_policy(DEFAULT_POLICY)),
    "talent-card": talent_card_consumes(load_rules(DEFAULT_RULES)),
    "portal": portal_consumes(),
}
CONSUMERS: dict[str, tuple[type[Event], ...]] = {name: tuple(handled) for name, handled in HANDLED.items()}
IGNORED = "ignored"  # an event of no interest to the consumer: neither applied (inbox) nor a dead letter
FLEET = (*services.APIS, "portal")  # the processes started: the consumers and enrollment (which consumes nothing)
TOPICS = sorted({model.topic for models in CONSUMERS.values() for model in models})
READERS = {
    topic: [name for name, models in CONSUMERS.items() if topic in {m.topic for m in models}] for topic in TOPICS
}
SCHEMAS = {name: services.SERVICES[name][1] for name in FLEET}
INSTITUTIONS = [uuid.uuid4() for _ in range(3)]  # the fuzz's valid events never touch the institutions checked after


# --- the services, as processes of our own --------------------------------------------------------------------


@dataclass
class Fleet:
    """The three services and the portal on free ports, a fresh database and consumer groups of their own."""

    bootstrap: str
    run: str
    ports: dict[str, int]
    groups: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str) -> None:
        package, schema, _ = services.SERVICES[name]
        env = {
            **os.environ,
            **services.environment(name),
            "DATABASE_URL": postgres.service_url(schema, FUZZ_DATABASE),
            "CONSUMER_GROUP": self.groups[name],
            "CONSUMER_INSTANCE_ID": f"{name}-fuzz-{self.run}",
        }
        command = [sys.executable, "-m", "uvicorn", "--factory", f"{package}.main:build_app"]
        command += ["--host", "127.0.0.1", "--port", str(self.ports[name]), "--no-access-log"]
        with (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, name: str, timeout: float = 90) -> None:
        deadline, last = time.monotonic() + timeout, "no answer"
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                break
            try:
                answer = httpx.get(f"{self.url(name)}/health/ready", timeout=3)
                if answer.status_code == 200:
                    return
                last = answer.text[:500]
            except httpx.HTTPError as error:
                last = str(error)
            time.sleep(0.5)
        pytest.fail(f"{name} not ready after {timeout:.0f}s ({last}); see {self.logs / (name + '.log')}")

    def stop_all(self) -> None:
        """SIGTERM, then SIGKILL after 20 s: only the processes this fixture started."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with real_infrastructure() as infra:
        if infra.kafka != kafka.BOOTSTRAP:
            pytest.fail("the fuzz tier runs the services on the local infrastructure (`make fuzz`, `make test`)")
        postgres.fresh_database(FUZZ_DATABASE)
        run = uuid.uuid4().hex[:6]
        groups = {name: f"{name}-fuzz-{run}" for name in FLEET}
        for name, models in CONSUMERS.items():
            asyncio.run(group_starts_at_end(infra.kafka, groups[name], *{m.topic for m in models}))
        ports = {name: _free_port() for name in FLEET}
        fleet = Fleet(infra.kafka, run, ports, groups, tmp_path_factory.mktemp("fuzz-logs"))
        try:
            for name in FLEET:
                fleet.start(name)
            for name in FLEET:
                fleet.wait_ready(name)
            yield fleet
        finally:
            fleet.stop_all()


# --- the records ----------------------------------------------------------------------------------------------


Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Fuzzed:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers
    kind: str  # what the generator meant; the oracle is `expected()`, not this label
    partition: int = 0  # drawn; used only where we choose the partition (the raw path, huge keys)

    @property
    def size(self) -> int:
        headers = sum(len(k.encode()) + len(v or b"") for k, v in self.headers)
        return len(self.key or b"") + len(self.value or b"") + headers

    @property
    def raw(self) -> bool:
        """Sent through the raw path: header keys as bytes, or neither key nor value (aiokafka's `send` refuses
        a record with neither, which the protocol allows)."""
        return any(isinstance(k, RawHeaderKey) for k, _ in self.headers) or (self.key is None and self.value is None)


Must = uuid.UUID | str | None


def expected(value: bytes | None, consumer: str, topic: str) -> Must:
    """What the consumer must do with these bytes: None = dead-letter them; an event id = apply (inbox); IGNORED =
    leave the event out, in neither (its handler is `Only` and its predicate leaves this event out)."""
    try:
        event = decode(value, CONSUMERS[consumer], topic)
    except (Undecodable, UnknownEvent, InvalidEvent):
        return None
    handler = HANDLED[consumer][type(event)]
    return IGNORED if isinstance(handler, Only) and not handler.when(event) else event.event_id


def reversal(approved: SubsidyApproved) -> SubsidyReversed:
    return SubsidyReversed.create(
        source="funding",
        subject=approved.trainee_id,
        occurred_at=approved.occurred_at + timedelta(days=1),
        caused_by=approved,
        subsidy_id=approved.subsidy_id,
        trainee_id=approved.trainee_id,
        institution_id=approved.institution_id,
        tier=approved.tier,
        amount_yuan=approved.amount_yuan,
        reason="fuzz reversal",
    )


@st.composite
def valid_events(draw: st.DrawFn) -> list[Event]:
    """One to three consistent events with fresh ids: an enrolment, its completion, withdrawal, approval..."""
    tier = draw(st.sampled_from([Tier.BASIC, Tier.PROFESSIONAL, Tier.PROFESSIONAL, Tier.SENIOR]))
    institution = draw(st.sampled_from(INSTITUTIONS))
    enrolled = enrolment(person("fuzz"), tier=tier, institution=institution)
    done = completion(enrolled, passed=draw(st.booleans()), days=draw(st.integers(1, 90)))
    story = draw(st.sampled_from(["enrol", "complete", "enrol+complete", "withdraw", "status", "approve", "reverse"]))
    if story == "enrol":
        return [enrolled]
    if story == "complete":
        return [done]
    if story == "enrol+complete":
        return [enrolled, done]
    if story == "withdraw":
        return [enrolled, withdrawal(enrolled)]
    if story == "status":
        seq = draw(st.integers(1, 2**31 - 1))
        return [draw(st.sampled_from([suspension, reinstatement]))(institution, seq)]
    approved = approval(done, amount=draw(st.integers(1, 10_000)))
    return [done, approved] if story == "approve" else [approved, reversal(approved)]


# strings random text seldom hits: NUL, lone surrogates, a byte-order mark, bidi and line separators, blanks
NASTY = st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "x\udcff", "\ufeff", "\u202e", "\u2028", "", " ", "null", "9" * 40]
)
TEXT = st.text(max_size=40) | NASTY


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
        max_leaves=max_leaves,
    )


def dumps(body: Any, ascii_only: bool = True) -> bytes:
    """JSON as a careless producer writes it: NaN and Infinity allowed, lone surrogates kept as they are."""
    return json.dumps(body, allow_nan=True, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def nesting(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "list" else '{"a": ' * depth + "1" + "}" * depth


JSON = json_values()
JSON_SMALL = json_values(3)
JSON_LARGE = json_values(20)
KNOWN_TYPES = [m.model_fields["type"].default for ms in CONSUMERS.values() for m in ms] + ["message-dead-lettered"]
TYPES = st.sampled_from(KNOWN_TYPES) | TEXT | JSON_SMALL
VERSIONS = st.sampled_from([0, 1, 2, -1, 1.0, "1", True, None]) | NASTY | JSON_SMALL
NOT_UTF8 = st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\x80abc", b"\xed\xa0\x80"])


def repeated(size: st.SearchStrategy[int]) -> st.SearchStrategy[bytes]:
    """`size` bytes of a short drawn pattern (hypothesis draws the pattern, not every byte)."""
    return st.tuples(st.binary(min_size=1, max_size=8), size).map(lambda p: (p[0] * (p[1] // len(p[0]) + 1))[: p[1]])


@st.composite
def keys(draw: st.DrawFn, event: Event | None) -> bytes | None:
    """Absent, empty, the subject, junk, not UTF-8, or (1 in 100) 50-100 KB."""
    roll = draw(st.integers(0, 99))
    if roll == 0:
        return draw(repeated(st.integers(50_000, 100_000)))
    if roll < 40 and event is not None:
        return event.key()
    return draw(st.none() | st.just(b"") | st.binary(max_size=64) | NOT_UTF8)


@st.composite
def headers(draw: st.DrawFn) -> Headers:
    """Absent, a few (values null, binary, not UTF-8), many, a huge one, or keys that are raw bytes."""
    roll = draw(st.integers(0, 99))
    if roll < 40:
        return []
    if roll < 88:
        return draw(
            st.lists(st.tuples(st.text(max_size=20), st.none() | st.binary(max_size=64) | NOT_UTF8), max_size=5)
        )
    if roll < 93:
        return [(f"h{i}", b"\xff" * (i % 7)) for i in range(draw(st.integers(100, 2_000)))]
    if roll < 95:
        return [(draw(st.text(max_size=10)), draw(repeated(st.integers(10_000, 100_000))))]
    raw = st.binary(max_size=12).map(RawHeaderKey)
    return draw(st.lists(st.tuples(raw, st.none() | st.binary(max_size=8)), min_size=1, max_size=3))


KINDS = [
    "valid",
    "valid",
    "extra-field",
    "field-replaced",
    "field-removed",
    "type-or-version",
    "junk",
    "json",
    "huge-int",
    "deep",
    "nan",
    "encoding",
]


@st.composite
def records(draw: st.DrawFn) -> list[Fuzzed]:
    """A valid story (one to three events on their topics), or one record of another kind."""
    kind = draw(st.sampled_from(KINDS))
    story = draw(valid_events())
    if kind == "valid":
        return [record(draw, kind, event.to_bytes(), event) for event in story]
    base = story[0]
    value, event = draw(values(kind, base))
    return [record(draw, kind, value, event)]


def record(draw: st.DrawFn, kind: str, value: bytes | None, event: Event | None) -> Fuzzed:
    own = event.topic if event is not None and event.topic in TOPICS else None
    topic = own if own is not None and draw(st.integers(0, 4)) > 0 else draw(st.sampled_from(TOPICS))
    fuzzed = Fuzzed(topic, draw(keys(event)), value, draw(headers()), kind, draw(st.integers(0, 63)))
    if fuzzed.size > MAX_RECORD:  # a huge key, huge headers and a large value together: drop the headers
        fuzzed = Fuzzed(fuzzed.topic, fuzzed.key, fuzzed.value, [], fuzzed.kind, fuzzed.partition)
    return fuzzed


@st.composite
def values(draw: st.DrawFn, kind: str, base: Event) -> tuple[bytes | None, Event | None]:
    """The value of one record of `kind` made from a valid event (and that event, if it is still in there)."""
    body = json.loads(base.to_bytes())
    name = draw(st.sampled_from(sorted(body)))
    if kind == "extra-field":  # unknown fields are ignored within a version: still a valid event
        body[draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in body))] = draw(JSON)
        return dumps(body, draw(st.booleans())), base
    if kind == "field-replaced":
        body[name] = draw(JSON)
        return dumps(body, draw(st.booleans())), base
    if kind == "field-removed":
        del body[name]
        return dumps(body), base
    if kind == "type-or-version":
        body["type"], body["version"] = draw(TYPES), draw(VERSIONS)
        return dumps(body), base
    if kind == "junk":
        return draw(st.none() | st.just(b"") | st.binary(max_size=3_000) | st.text().map(str.encode)), None
    if kind == "json":
        return dumps(draw(JSON_LARGE), draw(st.booleans())), None
    if kind == "huge-int":
        digits = draw(st.integers(31, 6_000))
        number = draw(st.sampled_from(["", "-"])) + "9" * digits + draw(st.sampled_from(["", ".5", "e5", "e99999"]))
        body[draw(st.sampled_from([name, "version", "extra"]))] = "__NUMBER__"
        return dumps(body).replace(b'"__NUMBER__"', number.encode()), base
    if kind == "deep":
        huge = draw(st.integers(0, 19)) == 0  # past the parser's recursion limit (200 KB)
        depth = 100_000 if huge else draw(st.integers(33, 3_000))
        nested = nesting(depth, "list" if huge else draw(st.sampled_from(["list", "object"]))).encode()
        if draw(st.booleans()):  # alone, or hidden in an otherwise valid event
            return nested, None
        body["x"] = "__DEEP__"
        return dumps(body).replace(b'"__DEEP__"', nested), base
    if kind == "nan":
        body[draw(st.sampled_from([name, "extra"]))] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        return dumps(body), base
    assert kind == "encoding"  # the same valid event in another encoding json.loads detects, or cut short
    encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "utf-8-sig", "cut"]))
    text = base.to_bytes().decode()
    if encoding == "cut":
        return text.encode()[: draw(st.integers(0, len(text) - 1))], base
    return text.encode(encoding), base


@st.composite
def big_records(draw: st.DrawFn) -> Fuzzed:
    """A value of 800-940 KB, near the broker's limit: padding in a valid event, junk, a long string, nesting."""
    size = draw(st.integers(800_000, 940_000))
    kind = draw(st.sampled_from(["big-valid", "big-junk", "big-string", "big-deep"]))
    event = draw(valid_events())[0]
    if kind == "big-valid":
        value = event.to_bytes()[:-1] + b', "padding": "' + b"x" * size + b'"}'
    elif kind == "big-junk":
        value = draw(repeated(st.just(size)))
    elif kind == "big-string":
        value = dumps("\u00e9" * (size // 2 - 1), ascii_only=False)  # two bytes a character
    else:
        value = nesting(size // 2, "list").encode()
    topic = event.topic if event.topic in TOPICS else draw(st.sampled_from(TOPICS))
    key = draw(st.none() | st.just(event.key()))
    record = Fuzzed(topic, key, value, draw(st.just([]) | headers().filter(lambda h: len(h) < 10)), kind)
    return record if record.size <= MAX_RECORD else Fuzzed(topic, key, value, [], kind)


def generate(total: int, big: int, run_seed: int) -> list[Fuzzed]:
    """`total` records (`big` of them big), drawn by hypothesis: one run draws a chunk of CHUNK records per
    example, another one big record per example; then they are shuffled together, seeded from `run_seed`."""
    small: list[Fuzzed] = []
    bigs: list[Fuzzed] = []

    def run(run_seed: int, examples: int, strategy: st.SearchStrategy[list[Fuzzed]], into: list[Fuzzed]) -> None:
        @seed(run_seed)
        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def draw(drawn: list[Fuzzed]) -> None:
            into.extend(drawn)

        draw()

    chunks = st.lists(records(), min_size=CHUNK, max_size=CHUNK).map(lambda groups: [r for g in groups for r in g])
    for attempt in range(20):  # hypothesis may run fewer examples than asked (overruns): draw again
        if len(small) >= total - big and len(bigs) >= big:
            break
        if len(bigs) < big:
            run(run_seed + attempt, big - len(bigs), big_records().map(lambda r: [r]), bigs)
        if len(small) < total - big:
            run(run_seed + attempt, math.ceil((total - big - len(small)) / CHUNK), chunks, small)
    assert len(small) >= total - big and len(bigs) >= big, f"hypothesis drew {len(small)} + {len(bigs)} of {total}"
    mixed = small[: total - big] + bigs[:big]
    random.Random(run_seed).shuffle(mixed)
    return mixed


# --- sending and reading back -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Landed:
    topic: str
    partition: int
    offset: int
    record: Fuzzed


async def send(bootstrap: str, batch: list[Fuzzed]) -> list[Landed]:
    """Send every record as it is (acks=all); returns where each landed.

    Records with header keys as raw bytes, or with neither key nor value, go in a batch of their own built by the
    pure-Python record builder (the C builder encodes header keys as UTF-8 itself); the producer is not
    idempotent for that reason."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=1_048_576, linger_ms=5, request_timeout_ms=60_000
    )
    await producer.start()
    try:
        partitions = {topic: len(await partitions_of(bootstrap, topic)) for topic in TOPICS}
        pending: list[tuple[Fuzzed, asyncio.Future[Any]]] = []
        for record in batch:
            if record.raw:
                built = producer.create_batch()
                built._builder = _DefaultRecordBatchBuilderPy(
                    2, 0, is_transactional=0, producer_id=-1, producer_epoch=-1, base_sequence=0, batch_size=1_048_576
                )
                assert built.append(timestamp=None, key=record.key, value=record.value, headers=record.headers)
                built.close()
                chosen = record.partition % partitions[record.topic]
                pending.append((record, await producer.send_batch(built, record.topic, partition=chosen)))
            else:  # aiokafka hashes keys in pure Python: a partition of our own for the huge ones
                partition = record.partition % partitions[record.topic] if len(record.key or b"") > 1_000 else None
                future = await producer.send(
                    record.topic, record.value, key=record.key, headers=record.headers, partition=partition
                )
                pending.append((record, future))
        landed = []
        for record, future in pending:
            meta = await future
            landed.append(Landed(record.topic, meta.partition, meta.offset, record))
        return landed
    finally:
        await producer.stop()


@dataclass
class Account:
    """One consumer's view of what we sent: applied, refused (dead letter with event id), dead-lettered."""

    consumer: str
    sent: int = 0
    applied: int = 0
    refused: int = 0
    dead: int = 0
    ignored: int = 0
    missing: list[str] = field(default_factory=list)  # sent, and neither in the inbox nor a dead letter
    wrong: list[str] = field(default_factory=list)  # accounted for, but not as the decoder says it must be
    foreign_dead_letters: int = 0  # dead letters at offsets we did not send (another producer's records)

    @property
    def complete(self) -> bool:
        return (
            not self.missing and not self.wrong and self.applied + self.refused + self.dead + self.ignored == self.sent
        )


Where = tuple[str, int, int]  # topic, partition, offset


def oracle(landed: list[Landed]) -> dict[str, dict[Where, Must]]:
    """Per consumer, for each record sent to its topics: None (must be a dead letter) or the event id to apply."""
    return {
        consumer: {
            (item.topic, item.partition, item.offset): expected(item.record.value, consumer, item.topic)
            for item in landed
            if consumer in READERS[item.topic]
        }
        for consumer in CONSUMERS
    }


async def account(
    conn: asyncpg.Connection, group: str, consumer: str, landed: list[Landed], musts: dict[Where, Must]
) -> Account:
    letters = {
        (r["topic"], r["partition"], r["offset"]): r["event_id"]
        for r in await conn.fetch(
            'SELECT topic, "partition", "offset", event_id FROM dead_letters WHERE consumer = $1', group
        )
    }
    inbox = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM inbox WHERE consumer = $1", group)}
    result = Account(consumer, sent=len(musts))
    records = {(i.topic, i.partition, i.offset): i.record for i in landed}

    def described(where: Where) -> str:
        record = records[where]
        return f"{record.kind} {where[0]}[{where[1]}]@{where[2]} {record.value!r:.160}"

    for where, must in musts.items():
        if must == IGNORED:
            if where in letters:
                result.wrong.append(f"an event of no interest to {consumer} is a dead letter: {described(where)}")
            else:
                result.ignored += 1
            continue
        if where in letters:
            if letters[where] != must:
                result.wrong.append(f"dead letter with event id {letters[where]}, expected {must}: {described(where)}")
            elif must is None:
                result.dead += 1
            else:
                result.refused += 1
        elif must is not None and must in inbox:
            result.applied += 1
        elif must is not None:
            result.missing.append(f"event {must} not in the inbox: {described(where)}")
        else:
            result.missing.append(f"no dead letter: {described(where)}")
    result.foreign_dead_letters = sum(1 for where in letters if where not in musts)
    return result


async def ends_of(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [p for topic in topics for p in await partitions_of(bootstrap, topic)]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def databases() -> AsyncIterator[dict[str, asyncpg.Connection]]:
    conns = {
        name: await asyncpg.connect(postgres.service_url(schema, FUZZ_DATABASE)) for name, schema in SCHEMAS.items()
    }
    try:
        yield conns
    finally:
        for conn in conns.values():
            await conn.close()


class DeadLetterTopic:
    """Reads the `dead-letter` topic from where it ended before the fuzz: the notices of our consumers."""

    def __init__(self, bootstrap: str, groups: set[str]) -> None:
        self.bootstrap, self.groups = bootstrap, groups
        self.notices: Counter[str] = Counter()
        self.largest = 0

    async def __aenter__(self) -> "DeadLetterTopic":
        partitions = await partitions_of(self.bootstrap, MessageDeadLettered.topic)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await self.consumer.start()
        starts = await self.consumer.end_offsets(partitions)
        self.consumer.assign(partitions)
        for partition, offset in starts.items():
            self.consumer.seek(partition, offset)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()

    async def read(self) -> None:
        batches = await self.consumer.getmany(timeout_ms=200, max_records=10_000)
        for part in batches.values():
            for record in part:
                consumer = json.loads(record.value or b"{}").get("consumer")
                if consumer in self.groups:
                    self.notices[consumer] += 1
                    self.largest = max(self.largest, len(record.value or b""))


# --- after the fuzz: valid events whose effects are known ---------------------------------------------------------


@dataclass
class Afterwards:
    """Sent after the fuzz (each twice: a redelivery must change nothing)."""

    professional: TraineeEnrolled
    senior: TraineeEnrolled
    direct: TierCompleted  # a senior completion whose approval we send ourselves

    @classmethod
    def create(cls) -> "Afterwards":
        institution = uuid.uuid4()
        return cls(
            enrolment(person("fuzz-after"), Tier.PROFESSIONAL, institution),
            enrolment(person("fuzz-after"), Tier.SENIOR, institution),
            completion(enrolment(person("fuzz-after"), Tier.SENIOR, institution)),
        )

    def events(self) -> list[Event]:
        return [
            self.professional,
            completion(self.professional),
            self.senior,
            completion(self.senior),
            self.direct,
            approval(self.direct),
        ]

    def records(self) -> list[Fuzzed]:
        return [Fuzzed(e.topic, e.key(), e.to_bytes(), [], "after") for e in self.events() for _ in range(2)]

    async def check(self, conns: dict[str, asyncpg.Connection]) -> list[str]:
        """What is wrong, if anything: each effect once."""
        funding, card = conns["funding"], conns["talent-card"]
        problems = []
        policy = load_policy()  # the services' own
        for enrolled in (self.professional, self.senior):
            amount = policy.rate(enrolled.tier)
            rows = await funding.fetch(
                "SELECT id, status, amount_yuan FROM subsidies WHERE enrollment_id = $1", enrolled.enrollment_id
            )
            if [(r["status"], r["amount_yuan"]) for r in rows] != [("approved", amount)]:
                problems.append(f"{enrolled.tier} subsidy for {enrolled.enrollment_id}: {[dict(r) for r in rows]}")
                continue
            approvals = await funding.fetchval(
                "SELECT count(*) FROM ledger WHERE subsidy_id = $1 AND entry = 'approve'", rows[0]["id"]
            )
            announced = await funding.fetchval(
                "SELECT count(*) FROM (SELECT topic, value FROM outbox UNION ALL SELECT topic, value FROM"
                " outbox_published) AS sent WHERE topic = 'subsidy-approved'"
                " AND convert_from(value, 'UTF8')::jsonb ->> 'enrollment_id' = $1",
                str(enrolled.enrollment_id),
            )
            if (approvals, announced) != (1, 1):
                problems.append(f"{enrolled.tier} approved {approvals} times, announced {announced} times")
        for who in (self.senior.trainee_id, self.direct.trainee_id):
            notices = await card.fetchval("SELECT count(*) FROM notices WHERE person_id = $1", who)
            announced = await card.fetchval(
                "SELECT count(*) FROM (SELECT topic, value FROM outbox UNION ALL SELECT topic, value FROM"
                " outbox_published) AS sent WHERE topic = 'green-card-eligible'"
                " AND convert_from(value, 'UTF8')::jsonb ->> 'person_id' = $1",
                who,
            )
            if (notices, announced) != (1, 1):
                problems.append(f"green card for {who}: {notices} notices, {announced} announced")
        return problems


# --- the test ----------------------------------------------------------------------------------------------------


@dataclass
class State:
    accounts: dict[str, Account]
    lagging: dict[str, list[str]]  # group: partitions whose committed offset is short of the end
    committed: dict[str, int]  # group: committed offsets summed over its partitions
    ends: dict[str, int]  # group: end offsets summed
    unpublished: dict[str, int]
    parked: dict[str, int]
    notices: dict[str, tuple[int, int]]  # consumer: (dead letters in its table since the start, notices on the topic)
    after: list[str]

    @property
    def done(self) -> bool:
        return (
            all(a.complete for a in self.accounts.values())
            and not any(self.lagging.values())
            and not any(self.unpublished.values())
            and not any(self.parked.values())
            and all(table == seen for table, seen in self.notices.values())
            and not self.after
        )


async def observe(
    fleet: Fleet,
    conns: dict[str, asyncpg.Connection],
    landed: list[Landed],
    musts: dict[str, dict[Where, Must]],
    topic: DeadLetterTopic,
    after: Afterwards,
) -> State:
    accounts, lagging, sums_committed, sums_ends, notices = {}, {}, {}, {}, {}
    for name, models in CONSUMERS.items():
        group = fleet.groups[name]
        accounts[name] = await account(conns[name], group, name, landed, musts[name])
        ends = await ends_of(fleet.bootstrap, sorted({m.topic for m in models}))
        done = await committed(fleet.bootstrap, group)
        lagging[group] = [
            f"{p.topic}[{p.partition}] {done.get(p, -1)}/{end}" for p, end in ends.items() if done.get(p, -1) < end
        ]
        sums_committed[group] = sum(done.get(p, 0) for p in ends)
        sums_ends[group] = sum(ends.values())
        await topic.read()
        table = await conns[name].fetchval("SELECT count(*) FROM dead_letters WHERE consumer = $1", group)
        notices[name] = (table, topic.notices[group])
    unpublished, parked = {}, {}
    for name, conn in conns.items():
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE parked_at IS NULL) AS unpublished, count(*) FILTER"
            " (WHERE parked_at IS NOT NULL) AS parked FROM outbox"
        )
        assert row is not None
        unpublished[name], parked[name] = row["unpublished"], row["parked"]
    return State(accounts, lagging, sums_committed, sums_ends, unpublished, parked, notices, await after.check(conns))


async def readiness(fleet: Fleet, problems: dict[str, str]) -> dict[str, int | str]:
    """Each service's GET /health/ready status; the last problems a service reported are kept in `problems`."""
    answers: dict[str, int | str] = {}
    async with httpx.AsyncClient(timeout=5) as http:
        for name in FLEET:
            try:
                answer = await http.get(f"{fleet.url(name)}/health/ready")
                answers[name] = answer.status_code
                if answer.status_code != 200:
                    problems[name] = str(answer.json().get("problems"))[:500]
            except (httpx.HTTPError, ValueError) as error:
                answers[name] = problems[name] = f"{type(error).__name__}: {error}"
    return answers


def summary(
    run_seed: int,
    landed: list[Landed],
    state: State,
    ready: dict[str, int | str],
    red: Counter[str],
    problems: dict[str, str],
    sending: float,
    took: float,
) -> str:
    per_topic = Counter(item.topic for item in landed)
    kinds = Counter(item.record.kind for item in landed)
    consumers = "; ".join(
        f"{a.consumer}: sent {a.sent}, applied {a.applied}, refused {a.refused}, dead-lettered {a.dead},"
        f" ignored {a.ignored}"
        f"{f', MISSING {len(a.missing)}' if a.missing else ''}{f', WRONG {len(a.wrong)}' if a.wrong else ''}"
        f"{f', foreign dead letters {a.foreign_dead_letters}' if a.foreign_dead_letters else ''}"
        for a in state.accounts.values()
    )
    offsets = ", ".join(
        f"{g} committed {state.committed[g]}/{state.ends[g]}"
        + (f" LAGGING {state.lagging[g]}" if state.lagging[g] else "")
        for g in state.committed
    )
    return (
        f"fuzz seed={run_seed} records={len(landed)} per topic {dict(sorted(per_topic.items()))} "
        f"kinds {dict(sorted(kinds.items()))} | {consumers} | offsets at end: {offsets} | "
        f"outbox unpublished {state.unpublished} parked {state.parked} | dead letters table/topic {state.notices} | "
        f"ready {ready}, polls not ready {dict(red)} | generated and sent in {sending:.0f}s, all done in {took:.0f}s"
        + (f" | readiness problems seen {problems}" if problems else "")
    )


async def test_any_generated_record_on_any_consumed_topic_is_applied_or_dead_lettered_and_nothing_stalls(
    fleet: Fleet,
) -> None:
    started = time.monotonic()
    run_seed = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))
    print(f"\nfuzz: FUZZ_RECORDS={RECORDS} FUZZ_SEED={run_seed}")
    fuzzed = generate(RECORDS, BIG, run_seed)
    after = Afterwards.create()
    groups = {fleet.groups[name] for name in CONSUMERS}
    red: Counter[str] = Counter()

    problems: dict[str, str] = {}

    async with DeadLetterTopic(fleet.bootstrap, groups) as topic, databases() as conns:
        landed = await send(fleet.bootstrap, fuzzed)
        landed += await send(fleet.bootstrap, after.records())  # after every fuzzed record
        sent = time.monotonic()
        musts = oracle(landed)
        deadline = time.monotonic() + TIMEOUT
        while True:
            state = await observe(fleet, conns, landed, musts, topic, after)
            ready = await readiness(fleet, problems)
            red.update(name for name, code in ready.items() if code != 200)
            if (state.done and all(code == 200 for code in ready.values())) or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
        reasonless = {  # a dead letter says why
            name: await conns[name].fetchval(
                "SELECT count(*) FROM dead_letters WHERE consumer = $1 AND coalesce(btrim(error), '') = ''",
                fleet.groups[name],
            )
            for name in CONSUMERS
        }

    line = summary(run_seed, landed, state, ready, red, problems, sent - started, time.monotonic() - started)
    print(line)
    logs = f"(seed {run_seed}; service logs in {fleet.logs})"
    for a in state.accounts.values():  # (a) every record accounted for, as the decoder says
        assert not a.missing, f"{a.consumer}: {len(a.missing)} records unaccounted for {logs}: {a.missing[:5]}\n{line}"
        assert not a.wrong, f"{a.consumer}: {len(a.wrong)} records handled wrongly {logs}: {a.wrong[:5]}\n{line}"
        assert a.applied + a.refused + a.dead + a.ignored == a.sent, line
    assert not any(state.lagging.values()), f"offsets short of the end {logs}: {state.lagging}\n{line}"  # (b)
    assert not any(state.unpublished.values()) and not any(state.parked.values()), f"outbox {logs}\n{line}"  # (c)
    assert all(table == seen for table, seen in state.notices.values()), f"dead-letter notices {logs}\n{line}"
    assert topic.largest < 16_000, f"a dead-letter notice of {topic.largest} bytes\n{line}"
    assert all(code == 200 for code in ready.values()), f"not ready at the end {logs}: {ready}\n{line}"  # (d)
    assert set(ready) == set(FLEET), ready
    assert not any(reasonless.values()), f"dead letters without a reason: {reasonless}\n{line}"
    assert state.accounts["portal"].dead > 0, f"no hostile record reached the portal\n{line}"
    assert not state.after, f"valid events after the fuzz {logs}: {state.after}\n{line}"  # (e)
    kinds = {item.record.kind for item in landed}
    assert {"valid", "junk", "huge-int", "deep", "nan"} <= kinds, f"the generator lost a kind: {kinds}\n{line}"
    assert sum(a.dead for a in state.accounts.values()) > 0 and sum(a.applied for a in state.accounts.values()) > 0
