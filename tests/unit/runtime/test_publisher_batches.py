"""KafkaPublisher groups a pass by partition and hands it over in batches: the partition is the one `send()` would
choose, each partition's messages keep their order across batches, and a message a batch will not take goes alone
through `send()` in its place (the real broker: tests/integration/runtime/test_relay_partitions.py)."""

import asyncio
import random
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from plan_runtime.outbox import MAX_BATCH_BYTES, KafkaPublisher, murmur2


def test_murmur2_is_aiokafkas_for_keys_of_every_length() -> None:
    rng = random.Random(7)
    keys = [rng.randbytes(length) for length in range(200) for _ in range(50)]
    keys += [rng.randbytes(rng.randrange(200, 5_000)) for _ in range(500)]
    keys += [b"\xff" * n for n in range(40)] + [f"trainee-{n}".encode() for n in range(20_000)]
    assert [murmur2(key) for key in keys] == [aiokafka_murmur2(key) for key in keys]


async def test_the_partition_is_the_one_send_chooses_for_every_key_and_partition_count() -> None:
    publisher = KafkaPublisher("127.0.0.1:1")  # never started: only its metadata is filled in by hand
    producer = publisher.producer
    rng = random.Random(13)
    checked = 0
    for count in (1, 2, 3, 5, 6, 7, 12, 30):
        topic = f"t{count}"
        producer.client.cluster._partitions[topic] = {p: SimpleNamespace(leader=0) for p in range(count)}
        partitions = list(await producer.partitions_for(topic))
        spread = set()
        for _ in range(2_500):
            key = rng.randbytes(rng.randrange(0, 64))
            mine = publisher.partition_of(topic, key, partitions)
            assert mine == producer._partition(topic, None, key, None, key, None)  # what send() calls
            spread.add(mine)
            checked += 1
        assert spread == set(range(count))
    assert checked == 20_000
    await producer.stop()


class FakeBatch:
    def __init__(self, capacity: int) -> None:
        self.capacity, self.values, self.closed = capacity, list[bytes](), False

    def append(self, *, key: bytes | None, value: bytes, timestamp: None) -> object | None:
        if self.closed or value == b"refused-by-an-empty-batch" or len(self.values) >= self.capacity:
            self.closed = True
            return None
        self.values.append(value)
        return object()

    def record_count(self) -> int:
        return len(self.values)


class FakeCluster:
    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1, 2}


class FakeClient:
    cluster = FakeCluster()


class FakeProducer:
    """Records what is handed over, per partition in the order handed over; futures resolve at once."""

    def __init__(self, capacity: int, refuse: bytes | None = None) -> None:
        self.capacity, self.refuse = capacity, refuse
        self.client = FakeClient()
        self.handed: dict[tuple[str, int], list[tuple[str, list[bytes]]]] = {}

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.capacity)

    def _done(self) -> "asyncio.Future[Any]":
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> "asyncio.Future[Any]":
        assert batch.values
        self.handed.setdefault((topic, partition), []).append(("batch", list(batch.values)))
        return self._done()

    async def send(self, topic: str, value: bytes, key: bytes | None, partition: int) -> "asyncio.Future[Any]":
        if value == self.refuse:
            raise MessageSizeTooLargeError("too large")
        self.handed.setdefault((topic, partition), []).append(("alone", [value]))
        return self._done()


async def publisher_with(producer: FakeProducer) -> KafkaPublisher:
    publisher = KafkaPublisher("127.0.0.1:1")
    await publisher.producer.stop()  # never started: the fake takes its place
    publisher.producer = producer  # type: ignore[assignment]
    return publisher


async def test_each_partition_gets_its_messages_in_order_across_batches_and_around_one_sent_alone() -> None:
    producer = FakeProducer(capacity=4)
    publisher = await publisher_with(producer)
    keys = [f"k{n}".encode() for n in range(40)]
    messages = [("t", key, b"%s:%d" % (key, n)) for n in range(5) for key in keys]
    messages.insert(77, ("t", keys[3], b"refused-by-an-empty-batch"))
    messages.insert(130, ("t", keys[5], b"L" * (MAX_BATCH_BYTES + 1)))
    await publisher.publish(messages)

    expected: dict[tuple[str, int], list[bytes]] = {}
    for topic, key, value in messages:
        expected.setdefault((topic, publisher.partition_of(topic, key, [0, 1, 2])), []).append(value)
    got = {tp: [v for _, values in handed for v in values] for tp, handed in producer.handed.items()}
    assert got == expected
    assert len(expected) == 3
    kinds = [kind for handed in producer.handed.values() for kind, _ in handed]
    assert kinds.count("alone") == 2 and kinds.count("batch") > 3 * 2
    assert all(len(values) <= 4 for handed in producer.handed.values() for _, values in handed)


async def test_a_message_the_producer_refuses_fails_the_pass_after_the_rest_was_settled() -> None:
    producer = FakeProducer(capacity=4, refuse=b"x" * (MAX_BATCH_BYTES + 1))
    publisher = await publisher_with(producer)
    messages = [("t", b"same", b"before"), ("t", b"same", b"x" * (MAX_BATCH_BYTES + 1)), ("t", b"same", b"after")]
    with pytest.raises(MessageSizeTooLargeError):
        await publisher.publish(messages)
    [handed] = producer.handed.values()
    assert handed == [("batch", [b"before"])]  # what precedes it was handed over first; nothing after it


async def test_a_message_without_a_key_goes_to_an_available_partition() -> None:
    producer = FakeProducer(capacity=100)
    publisher = await publisher_with(producer)
    await publisher.publish([("t", None, b"%d" % n) for n in range(50)])
    assert sum(len(values) for handed in producer.handed.values() for _, values in handed) == 50
    assert {partition for _, partition in producer.handed} <= {0, 1, 2}
