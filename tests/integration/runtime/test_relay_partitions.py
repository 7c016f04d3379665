"""The relay publishes a pass by partition (`send_batch`): proven on the real broker that every message lands on
the partition aiokafka's `send()` chooses for its key, once, and in row order per key — also across several
batches of one partition and around a message too large for a batch, which goes alone."""

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import MessageSizeTooLargeError

from plan_runtime import KafkaPublisher, ensure_topics
from plan_runtime.outbox import MAX_BATCH_BYTES
from tests.infrastructure import Infrastructure

PARTITIONS = 6


@pytest.fixture
async def topic(infrastructure: Infrastructure) -> AsyncIterator[str]:
    """A topic of the test's own (the plan's services do not read it), deleted afterwards."""
    name = f"relay-test-{uuid.uuid4().hex[:10]}"
    await ensure_topics(infrastructure.kafka, partitions=PARTITIONS, topics=(name,))
    try:
        yield name
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=infrastructure.kafka)
        await admin.start()
        try:
            await admin.delete_topics([name])
        finally:
            await admin.close()


@pytest.fixture
async def publisher(infrastructure: Infrastructure) -> AsyncIterator[KafkaPublisher]:
    publisher = KafkaPublisher(infrastructure.kafka)
    await publisher.start()
    try:
        yield publisher
    finally:
        await publisher.stop()


async def read_all(bootstrap: str, topic: str, count: int) -> list[tuple[int, int, bytes, bytes]]:
    """(partition, offset, key, value) of the topic's first `count` records, in offset order per partition."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list[tuple[int, int, bytes, bytes]] = []
    try:
        while len(records) < count:
            batch = await consumer.getmany(timeout_ms=10_000)
            if not batch:
                break
            for part in batch.values():
                records.extend((r.partition, r.offset, r.key, r.value) for r in part)
    finally:
        await consumer.stop()
    return sorted(records)


async def partitions_send_chooses(bootstrap: str, topic: str, keys: list[bytes]) -> dict[bytes, int]:
    """Where a plain aiokafka producer's `send()` puts each key (sent once each, after the pass)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [await producer.send(topic, b"send", key=key) for key in keys]
        return {key: (await future).partition for key, future in zip(keys, futures, strict=True)}
    finally:
        await producer.stop()


async def test_a_pass_of_many_keys_lands_on_the_partitions_send_chooses_once_and_in_order_per_key(
    infrastructure: Infrastructure, topic: str, publisher: KafkaPublisher
) -> None:
    keys = [f"trainee-{uuid.uuid4()}".encode() for _ in range(600)]
    rounds = 10
    pad = b"." * 700
    # row order as the outbox holds it: each key's messages interleaved with every other key's
    messages = [(topic, key, b"%d|" % n + pad) for n in range(rounds) for key in keys]
    await publisher.publish(messages)

    landed = await read_all(infrastructure.kafka, topic, len(messages))
    chosen = await partitions_send_chooses(infrastructure.kafka, topic, keys)

    assert len(landed) == len(messages)  # nothing dropped, nothing twice
    per_key: dict[bytes, list[int]] = defaultdict(list)
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    bytes_per_partition: dict[int, int] = defaultdict(int)
    for partition, _, key, value in landed:  # sorted by partition, then offset
        per_key[key].append(int(value.split(b"|")[0]))
        partitions_of_key[key].add(partition)
        bytes_per_partition[partition] += len(value)
    assert {key: partitions for key, partitions in partitions_of_key.items()} == {key: {chosen[key]} for key in keys}
    assert all(per_key[key] == list(range(rounds)) for key in keys)
    # the pass really spread over every partition, several batches each
    assert len(bytes_per_partition) == PARTITIONS
    assert min(bytes_per_partition.values()) > 2 * MAX_BATCH_BYTES


async def test_a_message_larger_than_a_batch_goes_alone_in_its_place_and_one_over_the_limit_is_refused(
    infrastructure: Infrastructure, topic: str, publisher: KafkaPublisher
) -> None:
    key = b"one-person"
    big = b"B" * (MAX_BATCH_BYTES + 10_000)  # more than a batch holds, less than a request
    messages = [(topic, key, b"%d" % n) for n in range(300)]
    messages.insert(150, (topic, key, big))
    await publisher.publish(messages)

    landed = await read_all(infrastructure.kafka, topic, len(messages))
    assert [value for _, _, _, value in landed] == [value for _, _, value in messages]
    assert len({partition for partition, _, _, _ in landed}) == 1

    with pytest.raises(MessageSizeTooLargeError):  # the relay then publishes the pass one by one and parks it
        await publisher.publish([(topic, key, b"before"), (topic, key, b"x" * 1_500_000), (topic, key, b"after")])
