"""Transactional outbox: events are rows written with the state change, published by a relay.

The relay claims unpublished rows with `FOR UPDATE SKIP LOCKED` (the row lock is the lease:
a relay that dies releases it) and, in the same statement, moves them to `outbox_published` (the archive of sent
events); it publishes them with an idempotent producer (acks=all) and commits only after the broker acknowledged
every one, so until then nothing has moved. No "last id" watermark: ids are handed out before commit, so a
late-committing row with a lower id is still found.

A relay's claim starts at a floor rather than at the outbox's first row, only to skip the index entries of rows
it has moved out itself (until VACUUM removes them, every claim from the start walked them all: a few ms per
claim in a busy outbox). The floor is a hint, never a watermark: every commit that appends events announces the
lowest id it appended (the NOTIFY's payload), which lowers the floor; and at least once per poll interval, and
after any wake without an announcement, the claim starts from the first row again. A row is therefore found by
its own announcement, or at the latest by the next pass from the start, as without the floor.
"""

import asyncio
import contextlib
import logging
import re
import struct
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidTopicError, KafkaError, MessageSizeTooLargeError, UnknownTopicOrPartitionError
from aiokafka.partitioner import DefaultPartitioner

from plan_events import Event
from plan_runtime.db import Connection
from plan_runtime.faults import fault_point
from plan_runtime.health import Health
from plan_runtime.limits import MAX_REQUEST_BYTES
from plan_runtime.transient import is_transient, retrying

log = logging.getLogger(__name__)


def channel(schema: str) -> str:
    return f"outbox_{schema}"


async def emit(conn: Connection, events: Iterable[Event]) -> None:
    """Append events to the outbox inside the caller's transaction (one round trip, however many),
    and wake the relays when it commits, announcing the lowest id appended (see `Relay`)."""
    rows = [(e.event_id, e.topic, e.key(), e.to_bytes()) for e in events]
    if not rows:
        return
    ids, topics, keys, values = (list(column) for column in zip(*rows, strict=True))
    await conn.execute(APPEND, ids, topics, keys, values)


APPEND = """WITH appended AS (
                INSERT INTO outbox (event_id, topic, key, value)
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[]) RETURNING id)
            SELECT pg_notify('outbox_' || current_schema(), min(id)::text) FROM appended"""
"""`emit`'s statement: the events' ids, topics, keys and values as four arrays (benchmarks.raw_intake runs it too)."""


async def emit_raw(conn: Connection, event_id: object, topic: str, key: bytes | None, value: bytes) -> None:
    """Append an already-encoded message (a dead-letter replay keeps the original bytes)."""
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, value) VALUES ($1, $2, $3, $4)",
        event_id,
        topic,
        key,
        value,
    )


class Publisher(Protocol):
    async def publish(self, messages: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        """Return only when the broker acknowledged every message; raise otherwise."""


_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


class UnpublishableTopic(ValueError):
    """Not a legal Kafka topic name: refused here, before the producer asks the broker about it for ever."""


def refused_for_good(error: BaseException) -> bool:
    """An error about the row itself (it would fail the same way every time), not about the producer or broker."""
    return isinstance(
        error, UnpublishableTopic | MessageSizeTooLargeError | UnknownTopicOrPartitionError | InvalidTopicError
    )


MAX_BATCH_BYTES = 256 * 1024
_M, _MASK = 0x5BD1E995, 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """aiokafka's `partitioner.murmur2` (the Java client's, which its DefaultPartitioner hashes a key with): the
    same value for every input, in fewer Python operations (the 4-byte words unpacked at once, masks folded).
    The tests compare the two on random keys of every length."""
    length = len(data)
    h = 0x9747B28C ^ length
    end = length & ~3
    for k in struct.unpack(f"<{end >> 2}I", data[:end]):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= data[end + 2] << 16
        if extra >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


Message = tuple[bytes | None, bytes]


class KafkaPublisher:
    """An idempotent producer: acks=all, retries without duplicates within its session.

    A pass is published by partition: its messages are grouped by the partition `send()` would choose (the
    producer's own partitioner: murmur2 of the key over all the topic's partitions), each partition's in row
    order, and handed to the producer as whole batches (`send_batch`), one future per batch instead of one
    `send()` per message. The partitions are filled concurrently; within one, batches go in order. A message
    too large for a batch goes alone through `send()`, so the producer refuses one over its request size
    (`MessageSizeTooLargeError`) exactly as before."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.partitioner = DefaultPartitioner()
        self.producer = self._producer()

    async def restart(self) -> None:
        """A new producer session (after a failure that may have left the old one unusable)."""
        with contextlib.suppress(Exception):
            await self.producer.stop()
        self.producer = self._producer()
        await self.producer.start()

    def _producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers,
            enable_idempotence=True,
            acks="all",
            # no linger: a pass hands over all its messages before it awaits any ack, so they are batched anyway;
            # lingering only delayed every pass (and the small ones of a service at a steady rate the most)
            linger_ms=0,
            request_timeout_ms=10_000,
            max_batch_size=MAX_BATCH_BYTES,
            max_request_size=MAX_REQUEST_BYTES,
            partitioner=self.partitioner,  # the one `partition_of` uses: send_batch is told the partition
        )

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def publish(self, messages: Sequence[tuple[str, bytes | None, bytes]]) -> None:
        topics = {topic for topic, _, _ in messages}
        for topic in topics:
            if not _TOPIC.fullmatch(topic):
                raise UnpublishableTopic(f"{topic[:300]!r} is not a legal Kafka topic name")
        # every topic's partitions before anything is handed over (an unknown topic fails here, as send() would)
        partitions = {topic: list(await self.producer.partitions_for(topic)) for topic in topics}
        by_partition: dict[tuple[str, int], list[Message]] = {}
        for topic, key, value in messages:
            tp = (topic, self.partition_of(topic, key, partitions[topic]))
            group = by_partition.get(tp)
            if group is None:
                by_partition[tp] = [(key, value)]
            else:
                group.append((key, value))
        handed = await asyncio.gather(
            *(self._hand_over(topic, partition, group) for (topic, partition), group in by_partition.items()),
            return_exceptions=True,
        )
        futures = [future for outcome in handed if not isinstance(outcome, BaseException) for future in outcome]
        acks = await asyncio.gather(*futures, return_exceptions=True)  # what was handed over is settled first
        for outcome in (*handed, *acks):
            if isinstance(outcome, BaseException):
                raise outcome

    def partition_of(self, topic: str, key: bytes | None, partitions: list[int]) -> int:
        """The partition `send()` chooses: what the producer's DefaultPartitioner computes (murmur2 of the key over
        all the topic's partitions, listed as send() lists them: `partitions_for`); a message without a key goes to
        any available one, as there."""
        if key is None:
            available = self.producer.client.cluster.available_partitions_for_topic(topic)
            return int(self.partitioner(None, partitions, list(available or ())))
        return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]

    async def _hand_over(self, topic: str, partition: int, messages: list[Message]) -> list["asyncio.Future[Any]"]:
        """One partition's messages in order, as batches; returns their futures (resolved on the broker's ack)."""
        producer = self.producer
        futures: list[asyncio.Future[Any]] = []
        batch = producer.create_batch()
        for key, value in messages:
            if len(value) + len(key or b"") <= MAX_BATCH_BYTES:
                if batch.append(key=key, value=value, timestamp=None) is not None:
                    continue
                if batch.record_count():  # full (it closed itself): hand it over, the message opens the next one
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is not None:
                    continue
                # an empty batch refused it (and closed itself): it goes alone; the next message finds the
                # closed batch empty and opens another
            elif batch.record_count():  # larger than a batch holds: what precedes it first
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
            # alone, through send(), which checks its size against the request limit as for any message
            futures.append(await producer.send(topic, value, key=key, partition=partition))
        if batch.record_count():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        return futures


_AS_A_QUEUE = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off; SET LOCAL work_mem = '32MB'"
"""A claim walks the outbox's pending index in id order and stops at its batch. The outbox is a queue: emptied by
every pass, refilled by every commit, so its statistics (taken by autovacuum whenever) often say "empty" while
tens of thousands of rows wait. Planned for an empty table, a claim read and sorted the whole backlog by bitmap;
these settings, for the claim's transaction only, leave the index walk as the only plan, and keep a batch's rows
in memory (at the default 4 MB they spilled to a temporary file). docs/performance.md, "Eighth round"."""
_MOVED = """INSERT INTO outbox_published (id, event_id, topic, key, value, created_at, published_at)
               SELECT id, event_id, topic, key, value, created_at, now() FROM moved"""
_CLAIM = f"""WITH moved AS (
                 DELETE FROM outbox WHERE id = ANY (ARRAY(
                     SELECT id FROM outbox WHERE parked_at IS NULL AND id >= $2
                         AND (SELECT pg_try_advisory_xact_lock(hashtext('outbox relay ' || current_schema())))
                     ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED))
                 RETURNING id, event_id, topic, key, value, created_at, attempts),
             archived AS ({_MOVED})
             SELECT id, topic, key, value, attempts FROM moved ORDER BY id"""
"""The relay's claim: up to $1 rows from id $2 on, locked, moved to the archive and returned in id order. Until its
transaction commits, after the broker's acknowledgement, nothing has moved. One relay of a schema claims at a time
(a lock held until its transaction ends; another relay's claim finds nothing and waits for the next wake): every
relay hears every commit, and the others' claims used to walk the holder's locked batch row by row to find
nothing (15-30 ms each). The ids are collected first and deleted by primary key: a join to the claim read the
whole backlog for every batch."""
_ARCHIVE = f"""WITH moved AS (DELETE FROM outbox WHERE id = ANY ($1::bigint[]) RETURNING *) {_MOVED}"""


class _Refused(Exception):
    """The broker refused a batch for good: its claim is rolled back and its rows go one by one."""


class Relay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        publisher: Publisher,
        health: Health,
        batch_size: int = 5000,
        poll_seconds: float = 1.0,
        max_wait: float = 10.0,
        max_attempts: int = 3,
    ) -> None:
        self.pool, self.schema, self.publisher, self.health = pool, schema, publisher, health
        self.batch_size, self.poll_seconds, self.max_wait = batch_size, poll_seconds, max_wait
        self.max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._stopping = False
        self._forget_topics = False
        self.restarts = 0
        self._floor = 0  # where the next claim starts: rows below it were settled by this relay's passes
        self._announced: int | None = None  # the lowest id announced since the last claim began
        self._from_start_at = -float("inf")  # when a claim last started from the first row (monotonic)

    def _claim_from(self) -> int:
        """Where this pass's claim starts: from the first row once per poll interval, else at the floor lowered by
        every id announced since the last claim began."""
        now = time.monotonic()
        if now - self._from_start_at >= self.poll_seconds:
            self._from_start_at, self._floor = now, 0
        if self._announced is not None:
            self._floor, self._announced = min(self._floor, self._announced), None
        return self._floor

    def announced(self, payload: str) -> None:
        """A commit appended rows from this id on (a NOTIFY's payload); anything else means "from the start"."""
        lowest = int(payload) if payload.isascii() and payload.isdigit() else 0
        self._announced = lowest if self._announced is None else min(self._announced, lowest)
        self._wake.set()

    async def relay_once(self) -> int:
        """Publish one batch of committed, unpublished rows; returns how many rows it settled.

        One statement claims the batch and moves it to `outbox_published`; the transaction commits only after the
        broker acknowledged every message, so a relay that dies or fails in between leaves the rows where they
        were (the row locks are the lease). If the broker refuses the batch for good (not a transient fault), the
        move is rolled back and the rows are published one by one: each that still fails gets an attempt and its
        error, and is parked at `max_attempts`. Rows of the batch that had already reached the broker may go out
        twice then; consumers absorb that."""
        start = self._claim_from()
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await conn.execute(_AS_A_QUEUE)
                    rows = await conn.fetch(_CLAIM, self.batch_size, start)
                    if not rows:
                        return 0
                    fault_point("relay.after_claim")
                    try:
                        await self.publisher.publish([(r["topic"], r["key"], r["value"]) for r in rows])
                    except Exception as error:
                        if is_transient(error):
                            raise
                        raise _Refused from error  # leaves the transaction: the move is undone
                    fault_point("relay.after_publish")
            except _Refused:
                return await self._one_by_one(conn, start)
        # committed: the next claim starts after this batch; a row skipped because another relay held it is that
        # relay's, or found from the start
        self._floor = rows[-1]["id"] + 1
        return len(rows)

    async def _one_by_one(self, conn: Connection, start: int) -> int:
        """The batch again, a message at a time: the published rows move to the archive, the refused ones get an
        attempt (parked at `max_attempts`); the next claim starts at this batch's first row."""
        async with conn.transaction():
            await conn.execute(_AS_A_QUEUE)
            rows = await conn.fetch(
                "SELECT id, topic, key, value, attempts FROM outbox WHERE parked_at IS NULL AND id >= $2"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch_size,
                start,
            )
            published: list[int] = []
            for row in rows:
                try:
                    await self.publisher.publish([(row["topic"], row["key"], row["value"])])
                    published.append(row["id"])
                except Exception as error:
                    if not refused_for_good(error):
                        raise  # the producer or the broker, not this row: the whole pass is retried
                    self._forget_topics = True  # the producer would keep asking the broker about a refused topic
                    parked = row["attempts"] + 1 >= self.max_attempts
                    reason = f"{type(error).__name__}: {error}"[:2_000]
                    await conn.execute(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = $2,"
                        " parked_at = CASE WHEN $3 THEN now() END WHERE id = $1",
                        row["id"],
                        reason,
                        parked,
                    )
                    log.error(
                        "relay %s: row %d to %s refused (%s)%s",
                        self.schema,
                        row["id"],
                        row["topic"],
                        reason,
                        "; parked" if parked else "",
                    )
            await conn.execute(_ARCHIVE, published)
        if rows:
            self._floor = rows[0]["id"]
        return len(rows)

    async def drain(self) -> int:
        """Relay until a pass finds less than a full batch. No empty pass is needed to end: a row committed after
        a pass's claim sends its NOTIFY after the claim, which wakes `run` again (its wake is cleared before the
        drain, not after it), and the poll covers a lost listener."""
        total = 0
        while not self._stopping:
            published = await self.relay_once()
            total += published
            if published < self.batch_size:
                break
        return total

    def stop(self) -> None:
        """Finish the batch in hand (publish it and move it to the archive), then return from `run`."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Until stopped: drain, then wait for a NOTIFY or the poll interval. Transient errors back off;
        any other error is reported and the loop starts again after a growing pause: never silently gone."""
        listener = asyncio.create_task(self._listen())
        backoff, fresh_session = 0.5, False
        try:
            while not self._stopping:
                try:
                    async for attempt in retrying(self.max_wait):
                        with attempt:
                            try:
                                # before the drain: a NOTIFY arriving while it runs (a commit after its last claim)
                                # must wake the next round, not be wiped out after it
                                self._wake.clear()
                                if fresh_session or self._forget_topics:
                                    await self._new_producer_session()
                                    fresh_session = self._forget_topics = False
                                published = await self.drain()
                            except Exception as error:
                                self.health.failing("outbox-relay", error)
                                # a client that lost the cluster after a broker restart never finds it again
                                # (aiokafka keeps asking an empty broker list): the next try uses a new one
                                fresh_session = fresh_session or isinstance(error, KafkaError | asyncio.TimeoutError)
                                raise
                except Exception:
                    self.restarts += 1
                    log.exception("relay %s failed; starting again in %.1fs", self.schema, backoff)
                    await asyncio.sleep(backoff)
                    fresh_session = True
                    backoff = min(backoff * 2, self.max_wait)
                    continue
                backoff = 0.5
                if published:
                    log.debug("relay %s published %d", self.schema, published)
                self.health.ok("outbox-relay")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        finally:
            listener.cancel()

    def wake(self) -> None:
        """Look again, from the first row (a parked row given back keeps its old id)."""
        self.announced("")

    async def _new_producer_session(self) -> None:
        restart = getattr(self.publisher, "restart", None)
        if restart is not None:
            log.info("relay %s: a new producer session", self.schema)
            await restart()

    async def _listen(self) -> None:
        """LISTEN wakes the relay as soon as a transaction with events commits; polling stays."""
        while True:
            try:
                async with self.pool.acquire() as conn:
                    wake = lambda _conn, _pid, _channel, payload: self.announced(payload)
                    await conn.add_listener(channel(self.schema), wake)
                    try:
                        while not conn.is_closed():  # noqa: ASYNC110 - a closed connection sends no event
                            await asyncio.sleep(self.poll_seconds * 5)
                    finally:
                        if not conn.is_closed():
                            await conn.remove_listener(channel(self.schema), wake)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the poll loop still runs; try to listen again later
                log.info("outbox listener lost (%s); polling only until it is back", error)
                await asyncio.sleep(self.max_wait)
