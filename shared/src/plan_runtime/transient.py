"""What counts as a passing fault (retry with back-off, commit nothing) and the retry policy."""

import asyncio
import logging

import asyncpg
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
    UnknownTopicOrPartitionError,
)
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_delay,
    stop_never,
    wait_exponential,
)

log = logging.getLogger(__name__)

_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.AdminShutdownError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
)


def is_transient(error: BaseException) -> bool:
    """Database or broker unreachable, or a broker error Kafka itself calls retriable (a leader moving, a
    request timing out while the broker restarts). A topic that does not exist is not waited for: the relay
    parks its row after a few attempts (an operator creates the topic and retries it)."""
    if isinstance(error, _TRANSIENT):
        return True
    return (
        isinstance(error, KafkaError)
        and bool(getattr(error, "retriable", False))
        and not isinstance(error, UnknownTopicOrPartitionError)
    )


def retrying(max_wait: float, give_up_after: float | None = None) -> AsyncRetrying:
    """Growing, capped back-off on transient errors only; anything else propagates at once."""
    return AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential(multiplier=0.2, max=max_wait),
        stop=stop_after_delay(give_up_after) if give_up_after else stop_never,
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
