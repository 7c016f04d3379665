"""Topics are created explicitly (the broker does not auto-create them)."""

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from plan_events import TOPICS
from plan_runtime.limits import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)


async def ensure_topics(bootstrap_servers: str, partitions: int = 6, topics: tuple[str, ...] = TOPICS) -> list[str]:
    """Create the missing topics; returns the ones it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        name=t,
                        num_partitions=partitions,
                        replication_factor=1,
                        topic_configs={"max.message.bytes": str(MAX_MESSAGE_BYTES)},
                    )
                    for t in missing
                ]
            )
            log.info("created topics %s", ", ".join(missing))
        return missing
    finally:
        await admin.close()
