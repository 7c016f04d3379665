"""Reading and writing the real broker from tests."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


class Landed(NamedTuple):
    partition: TopicPartition
    offset: int


async def partitions_of(bootstrap: str, topic: str) -> list[Landed]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
        return [TopicPartition(topic, p["partition"]) for p in description["partitions"]]
    finally:
        await admin.close()


class TopicWatcher:
    """Remembers a topic's end offsets now, and later reads only what came after."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.start: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> "TopicWatcher":
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await self.consumer.start()
        partitions = await partitions_of(self.bootstrap, self.topic)
        if not partitions:
            await self.consumer.stop()
            raise LookupError(f"topic {self.topic} does not exist")
        self.start = await self.consumer.end_offsets(partitions)
        self.consumer.assign(partitions)
        for partition, offset in self.start.items():
            self.consumer.seek(partition, offset)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()

    async def collect(
        self, done: Callable[[list[ConsumerRecord]], bool], timeout: float = 30.0
    ) -> list[ConsumerRecord]:
        """Records since the snapshot, read until `done(records)` or the timeout."""
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while not done(records) and time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
        return records


async def group_starts_at_end(bootstrap: str, group: str, *topics: str) -> None:
    """Commit `group`'s offsets at the topics' current ends, so it skips earlier tests' traffic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [p for topic in topics for p in await partitions_of(bootstrap, topic)]
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.commit({tp: offset for tp, offset in ends.items()})
    finally:
        await consumer.stop()


async def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> list[TopicPartition]:
    """Send (key, value) pairs in order; returns where each landed: (topic, partition) and offset."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        landed = []
        for key, value in messages:
            metadata = await producer.send_and_wait(topic, value, key=key)
            landed.append(Landed(TopicPartition(topic, metadata.partition), metadata.offset))
        return landed
    finally:
        await producer.stop()


async def eventually(check: Callable[[], object], timeout: float = 30.0, every: float = 0.2) -> None:
    """Wait until an async `check()` returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = await check()  # type: ignore[misc]
        if last:
            return
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


class RawHeaderKey(str):
    """A header key sent as raw bytes, UTF-8 or not (a Go or C client may send any): the pure-Python record
    builder asks the key to `encode()` itself, and this one answers its bytes."""

    raw: bytes

    def __new__(cls, raw: bytes) -> "RawHeaderKey":
        key = super().__new__(cls, raw.decode("latin-1"))
        key.raw = raw
        return key

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


@dataclass(frozen=True)
class Record:
    """What `Inbox.process` reads of a Kafka record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
