"""The subscription overlaps its waits (fetch + decode of batch n+1 during batch n's transaction, batch n's
offset commit during batch n+1) without changing what is applied or committed: every record applied once, in
partition order, offsets committed only after their batch and only forward — also when a batch fails while the
next one was already fetched (both are read again from their first offsets), and when fetching fails."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from plan_runtime.consumer import Outcome
from plan_runtime.health import Health
from plan_runtime.subscription import Subscription


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class FakeConsumer:
    """A group member alone on its partitions: getmany hands records from each position on and advances it."""

    def __init__(self, log: list[str], partitions: dict[TopicPartition, int], fail_fetch_at: int | None = None) -> None:
        self.log = log
        self.records = {
            tp: [Rec(tp.topic, tp.partition, n, b"k", f"{tp.partition}:{n}".encode()) for n in range(count)]
            for tp, count in partitions.items()
        }
        self.positions = dict.fromkeys(partitions, 0)
        self.committed: dict[TopicPartition, int] = {}
        self.commits: list[dict[TopicPartition, int]] = []
        self.fetches = 0
        self.fail_fetch_at = fail_fetch_at

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.log.append("stop")

    def assignment(self) -> set[TopicPartition]:
        return set(self.records)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Rec]]:
        await asyncio.sleep(0.001)
        self.fetches += 1
        if self.fail_fetch_at is not None and self.fetches == self.fail_fetch_at:
            self.log.append("fetch failed")
            raise RuntimeError("fetch failed")
        got: dict[TopicPartition, list[Rec]] = {}
        order = sorted(self.records)
        for n in range(len(order)):  # one partition per poll, in turn: the next batch is of another partition
            tp = order[(self.fetches + n) % len(order)]
            part = self.records[tp][self.positions[tp] : self.positions[tp] + max_records]
            if part:
                got[tp] = part
                self.positions[tp] = part[-1].offset + 1
                break
        if got:
            self.log.append(f"fetched {sum(map(len, got.values()))}")
        return got

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.log.append(f"seek {tp.partition}@{offset}")
        self.positions[tp] = offset

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        await asyncio.sleep(0.005)  # a broker round trip, while the next batch is applied
        for tp, meta in offsets.items():
            assert meta.offset >= self.committed.get(tp, 0), "an offset moved back"
        self.committed.update({tp: meta.offset for tp, meta in offsets.items()})
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})
        self.log.append("committed")

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.records[tp])

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]


class FakeInbox:
    """Applies records into `applied` (once per record: a second time would be a duplicate); fails the batches
    numbered in `fail` (non-transient: the batch is given up at once and re-read)."""

    consumer = "fake"
    topics = ["t"]

    def __init__(self, log: list[str], fail: set[int]) -> None:
        self.log, self.fail = log, fail
        self.applied: list[tuple[int, int]] = []
        self.calls = 0

    def decode(self, records: Sequence[Any]) -> list[tuple[Any, str]]:
        return [(record, record.value.decode()) for record in records]

    async def process(self, records: Sequence[Any], decoded: list[tuple[Any, str]] | None = None) -> Outcome:
        assert decoded is not None and [r for r, _ in decoded] == list(records)
        self.calls += 1
        await asyncio.sleep(0.01)  # the transaction: the next batch is fetched meanwhile
        if self.calls in self.fail:
            self.log.append(f"batch {self.calls} failed")
            raise ValueError("the database refused this batch")
        done = {(r.partition, r.offset) for r in records}
        assert not done & set(self.applied), "applied twice"
        self.applied.extend((r.partition, r.offset) for r in records)
        self.log.append(f"applied {len(records)}")
        return Outcome(applied=len(records))


PARTITIONS = {TopicPartition("t", 0): 23, TopicPartition("t", 1): 17, TopicPartition("t", 2): 5}


async def consume(fail: set[int], fail_fetch_at: int | None = None) -> tuple[FakeConsumer, FakeInbox, list[str]]:
    log: list[str] = []
    inbox = FakeInbox(log, fail)
    subscription = Subscription("unused:9092", inbox, Health(), batch_size=7, max_wait=0.01)  # type: ignore[arg-type]
    consumers: list[FakeConsumer] = []
    state = {tp: 0 for tp in PARTITIONS}

    def new_consumer() -> FakeConsumer:  # a restarted consumer starts from the committed offsets
        consumer = FakeConsumer(log, PARTITIONS, fail_fetch_at if not consumers else None)
        if consumers:
            state.update(consumers[-1].committed)
        consumer.positions = dict(state)
        consumer.committed = dict(state)
        consumers.append(consumer)
        return consumer

    subscription._consumer = new_consumer  # type: ignore[method-assign]
    task = asyncio.create_task(subscription.run())
    total = sum(PARTITIONS.values())
    for _ in range(500):
        await asyncio.sleep(0.01)
        last = consumers[-1] if consumers else None
        if last and sum(last.committed.values()) == total and len(inbox.applied) == total:
            break
    subscription.stop()
    await asyncio.wait_for(task, 5)
    return consumers[-1], inbox, log


def in_partition_order(applied: list[tuple[int, int]]) -> bool:
    return all(
        [offset for p, offset in applied if p == partition] == list(range(count))
        for partition, count in ((tp.partition, c) for tp, c in PARTITIONS.items())
    )


async def test_every_record_is_applied_once_in_order_and_offsets_follow_their_batch() -> None:
    consumer, inbox, log = await consume(fail=set())
    assert sorted(inbox.applied) == sorted((tp.partition, n) for tp, c in PARTITIONS.items() for n in range(c))
    assert in_partition_order(inbox.applied)
    assert consumer.committed == PARTITIONS
    # the overlap happened: a batch was fetched before the previous one was applied
    first_applied = next(n for n, entry in enumerate(log) if entry.startswith("applied"))
    assert sum(entry.startswith("fetched") for entry in log[:first_applied]) == 2
    # every commit is of a batch already applied: never more than what was applied by then
    for commit in consumer.commits:
        for tp, offset in commit.items():
            assert (tp.partition, offset - 1) in inbox.applied


@pytest.mark.parametrize("failing", [1, 2, 4])
async def test_a_failed_batch_and_the_one_fetched_after_it_are_read_again_from_their_first_offsets(
    failing: int,
) -> None:
    consumer, inbox, log = await consume(fail={failing})
    assert f"batch {failing} failed" in log
    after = log[log.index(f"batch {failing} failed") :]
    assert any(entry.startswith("seek") for entry in after)
    # nothing lost, nothing twice, nothing out of order: the prefetched batch was not skipped
    assert sorted(inbox.applied) == sorted((tp.partition, n) for tp, c in PARTITIONS.items() for n in range(c))
    assert in_partition_order(inbox.applied)
    assert consumer.committed == PARTITIONS


async def test_a_failed_fetch_restarts_the_consumer_from_the_committed_offsets_and_loses_nothing() -> None:
    consumer, inbox, log = await consume(fail=set(), fail_fetch_at=3)
    assert "fetch failed" in log and log.count("stop") >= 2
    assert sorted(inbox.applied) == sorted((tp.partition, n) for tp, c in PARTITIONS.items() for n in range(c))
    assert in_partition_order(inbox.applied)
    assert consumer.committed == PARTITIONS
