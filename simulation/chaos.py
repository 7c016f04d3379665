"""`--chaos`: while the plan plays, crash and restart what the services stand on, and still reconcile.

Funding and talent-card are SIGKILLed (no graceful shutdown, nothing flushed) and restarted at random
moments; the Kafka broker is restarted once and PostgreSQL once. The simulator is a client that
retries (simulation/client.py), the services' outboxes, inboxes and explicit offsets do the rest: the
reconciliation at the end must agree as if nothing had happened.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from infra import kafka, postgres, services

log = logging.getLogger(__name__)
T = TypeVar("T")
VICTIMS = ("funding", "talent-card")


@dataclass
class Chaos:
    """Faults injected one at a time, `pause` seconds apart (a random draw), until told to stop."""

    start_service: Callable[[str], None]  # start a service and wait until it is ready (blocking)
    rng: random.Random
    pause: tuple[float, float] = (1.0, 4.0)
    kills: Counter[str] = field(default_factory=Counter)
    broker_restarts: int = 0
    database_restarts: int = 0
    log: list[str] = field(default_factory=list)
    planned: asyncio.Event = field(default_factory=asyncio.Event)  # set once the four planned faults are done
    _faults: "asyncio.Task[None]" = field(init=False, repr=False)

    async def run(self, stop: asyncio.Event) -> None:
        """Kill funding, restart the broker, kill talent-card, restart PostgreSQL, then kill at random until
        `stop` is set."""
        began = time.monotonic()
        plan = ["funding", "broker", "talent-card", "database"]
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.uniform(*self.pause))
            if stop.is_set():
                return
            action = plan.pop(0) if plan else self.rng.choice(VICTIMS)
            if action == "broker":
                await asyncio.to_thread(self._restart_broker)
            elif action == "database":
                await asyncio.to_thread(self._restart_database)
            else:
                await asyncio.to_thread(self._kill, action)
            self.log.append(f"{time.monotonic() - began:6.1f}s {action}")
            if not plan:
                self.planned.set()

    async def finish(self) -> None:
        """The faults the run was too short for, so that every chaos run has them all; then all up."""
        for victim in VICTIMS:
            if not self.kills[victim]:
                await asyncio.to_thread(self._kill, victim)
        if not self.broker_restarts:
            await asyncio.to_thread(self._restart_broker)
        if not self.database_restarts:
            await asyncio.to_thread(self._restart_database)
        for name in services.SERVICES:
            if not services.is_running(name):
                await asyncio.to_thread(self.start_service, name)

    def _kill(self, name: str) -> None:
        services.kill(name)
        self.kills[name] += 1
        time.sleep(self.rng.uniform(0.2, 1.5))
        self.start_service(name)

    def _restart_broker(self) -> None:
        kafka.stop()
        time.sleep(self.rng.uniform(0.5, 2.0))
        kafka.start()
        self.broker_restarts += 1

    def _restart_database(self) -> None:
        postgres.stop()
        time.sleep(self.rng.uniform(0.5, 2.0))
        postgres.start()
        self.database_restarts += 1

    async def during(self, playing: Awaitable[T]) -> T:
        """Await `playing` with faults injected meanwhile; afterwards every fault has happened and all is up.

        The main job waits for `planned` before it settles (see `settle_after`), so the four planned faults
        always fall inside the run, however fast the cohort is played."""
        stop = asyncio.Event()
        faults = self._faults = asyncio.create_task(self.run(stop))
        try:
            return await playing
        finally:
            stop.set()
            await faults
            await self.finish()

    async def settle_after(self) -> None:
        """Called by the main job between playing and settling: the planned faults are part of the run."""
        planned = asyncio.create_task(self.planned.wait())
        await asyncio.wait([planned, self._faults], return_when=asyncio.FIRST_COMPLETED)
        planned.cancel()
        if self._faults.done():
            self._faults.result()  # a fault that could not be injected (a broker that did not come back) says so

    def summary(self) -> str:
        kills = ", ".join(f"{name} x{n}" for name, n in sorted(self.kills.items())) or "none"
        during = "; ".join(line.strip() for line in self.log) or "none"
        return (
            f"chaos: SIGKILLed and restarted {kills}; broker restarted {self.broker_restarts}x, "
            f"PostgreSQL restarted {self.database_restarts}x (during the run: {during})"
        )
