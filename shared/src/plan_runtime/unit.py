"""The unit of work every use case gets: a store on one transaction, and the events it publishes.

A use case never writes to the outbox itself and never builds its store: it is handed a store (a subclass of
`Unit` for PostgreSQL, or the service's in-memory fake in the unit tests) and calls `publish(...)`. The runtime
appends what was published to the outbox once, in the same transaction, when the use case is done:

- over Kafka, the inbox does it once per batch (a refused message's events are dropped with it);
- over HTTP, the `unit_of_work` dependency does it just before its transaction commits.
"""

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import Depends, Request

from plan_events import Event
from plan_runtime.db import Connection
from plan_runtime.outbox import emit


class Unit:
    """Base of a service's PostgreSQL store: its connection (in a transaction) and the events to publish."""

    def __init__(self, conn: Connection, published: list[Event] | None = None) -> None:
        self.conn = conn
        self.published: list[Event] = [] if published is None else published

    def publish(self, *events: Event) -> None:
        self.published.extend(events)

    def rolled_back(self) -> None:
        """A savepoint of this unit's transaction was rolled back (the inbox's careful pass: a refused message):
        a store that remembers what its transaction holds (row locks, rows it wrote) forgets it here, since
        PostgreSQL releases the locks taken and undoes the writes made after the savepoint."""


U = TypeVar("U", bound=Unit)


def unit_of_work(make: Callable[[Connection, list[Event]], U]) -> Any:
    """A FastAPI dependency: `make(conn, published)` on a pooled connection in a transaction; what the route
    published goes to the outbox, then the transaction commits, before the answer is sent."""

    async def dependency(request: Request) -> AsyncIterator[U]:
        async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
            published: list[Event] = []
            yield make(conn, published)
            await emit(conn, published)

    return Depends(dependency, scope="function")
