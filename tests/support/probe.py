"""A minimal service on the shared runtime, run as a real process to prove the runtime's guarantees.

`python -m tests.support.probe` with DATABASE_URL, DB_SCHEMA, KAFKA_BOOTSTRAP_SERVERS and
PROBE_GROUP set. It consumes `trainee-enrolled` and relays its own outbox. A body whose niche
is "refuse" is refused by its business rule (a permanent refusal -> dead letter) until a row in
probe_fixed says the cause was fixed.
"""

import asyncio
import logging
from pathlib import Path

from plan_events import TraineeEnrolled
from plan_runtime import Inbox, Refused, RuntimeSettings
from plan_runtime.service import running
from plan_runtime.unit import Unit

MIGRATIONS = Path(__file__).parent / "probe_migrations"


class ProbeSettings(RuntimeSettings):
    probe_group: str = "probe"


async def on_enrolled(unit: Unit, event: TraineeEnrolled) -> None:
    conn = unit.conn
    await conn.execute("INSERT INTO probe_calls (event_id) VALUES ($1)", event.event_id)
    if event.niche == "refuse" and not await conn.fetchval("SELECT count(*) FROM probe_fixed"):
        raise Refused("the probe refuses the niche 'refuse'")
    await conn.execute(
        "INSERT INTO probe_effects (enrollment_id, event_id) VALUES ($1, $2) ON CONFLICT (enrollment_id) DO NOTHING",
        event.enrollment_id,
        event.event_id,
    )


async def main() -> None:
    settings = ProbeSettings()  # type: ignore[call-arg]
    async with running(
        settings,
        "probe",
        MIGRATIONS,
        lambda pool: [Inbox(settings.probe_group, "probe", pool, {TraineeEnrolled: on_enrolled})],
    ):
        await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
