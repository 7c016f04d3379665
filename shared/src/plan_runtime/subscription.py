"""The one FastStream subscriber shape every service uses: raw batches in, inbox, then commit."""

import logging
from typing import Any

from aiokafka.errors import CommitFailedError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from plan_runtime.consumer import Inbox
from plan_runtime.faults import fault_point
from plan_runtime.health import Health
from plan_runtime.transient import retrying

log = logging.getLogger(__name__)


async def _keep_raw(msg: KafkaMessage) -> Any:
    """Bodies are decoded by the inbox, which can park a bad one; FastStream must not choke first."""
    return msg.body


def subscribe(
    broker: KafkaBroker,
    inbox: Inbox,
    health: Health,
    *,
    batch_size: int = 500,
    max_wait: float = 10.0,
    give_up_after: float = 60.0,
) -> None:
    """Consume `inbox.topics` in group `inbox.consumer`; commit offsets only after the DB commit."""
    part = f"consumer:{inbox.consumer}"

    async def on_batch(body: Any, msg: KafkaMessage) -> None:
        records = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
        try:
            async for attempt in retrying(max_wait, give_up_after):
                with attempt:
                    outcome = await inbox.process(records)
        except Exception as error:
            health.failing(part, error)
            log.error("%s: batch of %d not applied, will be re-read: %s", part, len(records), error)
            await msg.nack()  # seek back: nothing of this batch is committed
            return
        fault_point("consumer.after_commit")
        try:
            await msg.ack()
        except CommitFailedError as error:  # a rebalance: the records come again, the inbox skips them
            log.warning("%s: offset commit failed (%s); redelivery will be absorbed", part, error)
        health.ok(
            part,
            f"applied {outcome.applied}, duplicates {outcome.duplicates}, dead letters {len(outcome.dead_letters)}",
        )

    health.ok(part, "subscribed")
    broker.subscriber(
        *inbox.topics,
        group_id=inbox.consumer,
        batch=True,
        max_records=batch_size,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        decoder=_keep_raw,
    )(on_batch)
