"""Consuming raw records with aiokafka: batch in, inbox, then commit exactly the offsets applied.

We consume through aiokafka directly rather than through FastStream's subscriber (docs in README,
"Delivery"): FastStream's batch parser decodes every header before the handler runs and, under
`AckPolicy.MANUAL`, only logs that failure; its `ack()` then commits the consumer's position with no
offsets, across partitions, past the batch it never handed over. Here nothing is decoded before the
inbox (it takes `value` and `key` as bytes and never reads headers), and:

- offsets are explicit: after the inbox transaction committed, each partition of the batch is
  committed at `last offset + 1`, never `commit()` with no arguments;
- batches are applied one after the other, but their waits overlap: batch n+1 is fetched and decoded
  while batch n's transaction runs, and batch n's offsets are committed while batch n+1 is applied
  (awaited before the next commit, so a partition's committed offset only moves forward);
- a batch that cannot be applied (the database is down past the retry budget) is neither committed
  nor skipped: every partition of it, and of the batch fetched after it, is sought back to its first
  offset and read again;
- the consuming task is supervised: an unexpected error restarts it (a new consumer, rejoining the
  group) with a growing back-off, and `/health` says so meanwhile;
- it reports what readiness needs: the task alive, partitions assigned, the last successful poll and
  the records behind the end of each partition (the lag).
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from plan_runtime import records
from plan_runtime.consumer import Decoded, Inbox
from plan_runtime.faults import fault_point
from plan_runtime.health import Health
from plan_runtime.limits import MAX_FETCH_BYTES, MAX_PARTITION_FETCH_BYTES
from plan_runtime.transient import retrying

log = logging.getLogger(__name__)
records.install()  # header keys that are not UTF-8 must not stop a partition

FETCH_MAX_WAIT_MS = 50
"""How long the broker holds a fetch that found nothing (aiokafka's default: 500 ms). aiokafka keeps one fetch in
flight per broker, and a partition whose records were just handed over joins only the next one: while the
others are quiet, its next record waited up to this long. 50 ms bounds that wait; an idle consumer pays ~20
empty fetches a second."""


DECODE_SLICE = 25
"""Records decoded at a time while the previous batch is applied (~0.5 ms of CPU): the event loop is free again
after each slice."""


@dataclass
class ConsumerState:
    """What `/health` reads of one consumer."""

    started: float = field(default_factory=time.monotonic)
    assigned: int = 0
    last_poll: float | None = None  # monotonic time of the last poll that worked
    lag: int | None = None  # records behind the end of the assigned partitions
    restarts: int = 0


@dataclass
class _Batch:
    """Records of one poll, decoded, with the first offset and the offset to commit of each partition."""

    records: list[ConsumerRecord]
    firsts: dict[TopicPartition, int]
    offsets: dict[TopicPartition, OffsetAndMetadata]
    decoded: Decoded


T = TypeVar("T")


async def _settled(task: "asyncio.Task[T]") -> T | None:
    """A background step's result once it is over; its failure is logged here, not raised."""
    try:
        return await task
    except asyncio.CancelledError:
        if not task.cancelled():  # we are the ones being cancelled
            raise
        return None
    except Exception:
        log.warning("consumer: background step failed", exc_info=True)
        return None


class Subscription:
    """One member of the consumer group `inbox.consumer`, reading `inbox.topics`."""

    def __init__(
        self,
        bootstrap_servers: str,
        inbox: Inbox,
        health: Health,
        *,
        batch_size: int = 500,
        max_wait: float = 10.0,
        give_up_after: float = 60.0,
        session_timeout_ms: int = 10_000,
        group_instance_id: str | None = None,
        fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS,
    ) -> None:
        self.bootstrap_servers, self.inbox, self.health = bootstrap_servers, inbox, health
        self.batch_size, self.max_wait, self.give_up_after = batch_size, max_wait, give_up_after
        self.session_timeout_ms, self.group_instance_id = session_timeout_ms, group_instance_id
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.part = f"consumer:{inbox.consumer}"
        self.state = ConsumerState()
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    async def run(self) -> None:
        """Consume until stopped; if consuming fails in any way, report it and start again."""
        backoff = 0.5
        self.health.ok(self.part, "starting")
        while not self._stopping:
            try:
                await self._consume()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.state.restarts += 1
                self.health.failing(self.part, error)
                log.exception("%s: consumer failed; restarting in %.1fs", self.part, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_wait)

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *self.inbox.topics,
            bootstrap_servers=self.bootstrap_servers,
            group_id=self.inbox.consumer,
            group_instance_id=self.group_instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
            max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
            fetch_max_bytes=MAX_FETCH_BYTES,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=max(self.session_timeout_ms // 4, 100),
            fetch_max_wait_ms=self.fetch_max_wait_ms,
        )

    async def _consume(self) -> None:
        """Batches are applied strictly one after the other, but the waits overlap: batch n+1 is fetched and
        decoded while batch n's transaction is in the database, and batch n's offsets are committed while
        batch n+1 is applied (that commit is awaited before the next one, so offsets only move forward)."""
        consumer = self._consumer()
        await consumer.start()
        self.health.ok(self.part, "consuming")
        # a client that lost the cluster (after a broker restart) polls nothing for ever without an error:
        # with no partition for this long, the consumer is replaced by a new one that joins again
        give_up = max(30.0, 3 * self.session_timeout_ms / 1000)
        assigned_at = time.monotonic()
        ahead: asyncio.Task[_Batch | None] | None = None  # the next batch, fetched and decoded meanwhile
        committing: asyncio.Task[None] | None = None  # the last applied batch's offsets, on their way
        try:
            while not self._stopping:
                pending, ahead = ahead, None
                batch = await (pending or self._fetch(consumer))  # if this failed, a new consumer reads it again
                self.state.last_poll = now = time.monotonic()
                self.state.assigned = len(consumer.assignment())
                if self.state.assigned:
                    assigned_at = now
                elif now - assigned_at > give_up:
                    raise RuntimeError(f"no partition assigned for {now - assigned_at:.0f} s: joining again")
                if batch is not None:
                    ahead = asyncio.create_task(self._fetch(consumer))
                    if await self._apply(batch):
                        fault_point("consumer.after_commit")
                        previous, committing = committing, None
                        if previous is not None:
                            await previous  # offsets only move forward
                        committing = asyncio.create_task(self._commit(consumer, batch.offsets))
                    else:
                        # the batch fetched meanwhile lies behind the failed one: neither is applied, both are
                        # read again from their first offsets
                        pending, ahead = ahead, None
                        later = await pending  # if fetching it failed, a new consumer reads both again
                        self._seek_back(consumer, batch, later)
                        await asyncio.sleep(min(self.max_wait, 2.0))  # the database is away: do not spin
                await self._measure_lag(consumer)
        finally:
            if ahead is not None:  # fetched, never applied, never committed: the next consumer reads it again
                ahead.cancel()
                await _settled(ahead)
            if committing is not None:
                await _settled(committing)
            await consumer.stop()

    async def _fetch(self, consumer: AIOKafkaConsumer) -> "_Batch | None":
        batches = await consumer.getmany(timeout_ms=500, max_records=self.batch_size)
        if not batches:
            return None
        records = [record for part in batches.values() for record in part]
        decoded: Decoded = []
        for start in range(0, len(records), DECODE_SLICE):
            if start:
                # the batch being applied waits for the database in short round trips: let each answer in
                # between slices, so that decoding fills those waits instead of delaying them
                await asyncio.sleep(0)
            decoded += self.inbox.decode(records[start : start + DECODE_SLICE])
        return _Batch(
            records,
            {partition: part[0].offset for partition, part in batches.items()},
            {partition: OffsetAndMetadata(part[-1].offset + 1, "") for partition, part in batches.items()},
            decoded,
        )

    async def _apply(self, batch: "_Batch") -> bool:
        try:
            async for attempt in retrying(self.max_wait, self.give_up_after):
                with attempt:
                    outcome = await self.inbox.process(batch.records, batch.decoded)
        except Exception as error:
            self.health.failing(self.part, error)
            log.error("%s: batch of %d not applied, will be re-read: %s", self.part, len(batch.records), error)
            return False
        self.health.ok(
            self.part,
            f"applied {outcome.applied}, duplicates {outcome.duplicates}, ignored {outcome.ignored},"
            f" dead letters {len(outcome.dead_letters)}",
        )
        return True

    def _seek_back(self, consumer: AIOKafkaConsumer, failed: "_Batch", later: "_Batch | None") -> None:
        """Nothing of the failed batch, nor of the one fetched after it, is committed or skipped: every partition
        of either goes back to its first offset in them. If revoked meanwhile, its new owner reads from the
        committed offset."""
        firsts = dict(later.firsts) if later is not None else {}
        firsts.update(failed.firsts)  # the failed batch's records come first in each partition
        for partition, offset in firsts.items():
            with contextlib.suppress(IllegalStateError):
                consumer.seek(partition, offset)

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:  # a rebalance: redelivery is absorbed by the inbox
            log.warning("%s: offset commit failed (%s); redelivery will be absorbed", self.part, error)

    async def _measure_lag(self, consumer: AIOKafkaConsumer) -> None:
        lag = 0
        try:
            for partition in consumer.assignment():
                end = consumer.highwater(partition)
                if end is not None:
                    lag += max(0, end - await consumer.position(partition))
        except (KafkaError, IllegalStateError):  # a rebalance between the two calls: measure next time
            return
        self.state.lag = lag
