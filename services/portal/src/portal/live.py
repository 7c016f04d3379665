"""Live pages: `/live` is a stream of server-sent events; an event `change` each time the read model moved.

One watcher task per process reads the read model's version (one tiny query every `live_poll_seconds`) and
wakes every open stream; a stream also sends a comment every 15 s (proxies keep it open) and ends after 10
minutes (the browser's EventSource reconnects by itself), so a server restart never waits on old streams.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

log = logging.getLogger(__name__)
STREAM_SECONDS = 600
HEARTBEAT_SECONDS = 15


class Watcher:
    def __init__(self) -> None:
        self.version = -1
        self.changed = asyncio.Condition()

    async def run(self, pool: asyncpg.Pool, every: float) -> None:
        while True:
            try:
                version = int(await pool.fetchval("SELECT version FROM read_model_version"))
                if version != self.version:
                    self.version = version
                    async with self.changed:
                        self.changed.notify_all()
            except (OSError, asyncpg.PostgresError) as error:  # the database restarting: try again
                log.warning("live: cannot read the read model's version: %s", error)
            await asyncio.sleep(every)

    async def _wait_past(self, seen: int) -> None:
        """Until the version is no longer `seen`, or the heartbeat is due."""
        with contextlib.suppress(TimeoutError):
            async with self.changed:
                await asyncio.wait_for(self.changed.wait_for(lambda: self.version != seen), HEARTBEAT_SECONDS)

    async def stream(self, request: Request) -> AsyncIterator[str]:
        seen = self.version
        yield f"retry: 2000\nevent: hello\ndata: {seen}\n\n"
        ends = time.monotonic() + STREAM_SECONDS
        while time.monotonic() < ends and not await request.is_disconnected():
            await self._wait_past(seen)
            if self.version != seen:
                seen = self.version
                yield f"event: change\ndata: {seen}\n\n"
            else:
                yield ": still here\n\n"


def live_router() -> APIRouter:
    router = APIRouter()

    @router.get("/live", include_in_schema=False)
    async def live(request: Request) -> StreamingResponse:
        watcher: Watcher = request.app.state.watcher
        return StreamingResponse(
            watcher.stream(request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
