"""End to end: the three services as real processes on the real broker and database, driven by the simulator."""

import asyncio
import random
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra import kafka, postgres, services
from plan_events import (
    EnrollmentWithdrawn,
    InstitutionReinstated,
    InstitutionSuspended,
    SubsidyApproved,
    SubsidyReversed,
    TierCompleted,
    TraineeEnrolled,
)
from portal.projection import consumes as portal_consumes
from simulation import hostile
from simulation.__main__ import endpoints
from simulation.chaos import Chaos
from simulation.client import client
from simulation.cohort import Size
from simulation.play import Sent, play, settle
from simulation.report import dead_letter_counts, gather, reconcile
from tests.infrastructure import Infrastructure, real_infrastructure
from tests.support.kafka import group_starts_at_end

SMALL = Size(basic=300, professional=60, senior=12, fail_rate=0.1, withdraw_rate=0.05)
CHAOS = Size(basic=6_000, professional=720, senior=72, fail_rate=0.1, withdraw_rate=0.05)  # `make chaos`: 20,000


E2E_DATABASE = "talentplan_e2e"
INPUTS = {
    "enrollment": (),
    "funding": (
        TraineeEnrolled.topic,
        TierCompleted.topic,
        EnrollmentWithdrawn.topic,
        InstitutionSuspended.topic,
        InstitutionReinstated.topic,
    ),
    "talent-card": (TierCompleted.topic, SubsidyApproved.topic, SubsidyReversed.topic),
    "portal": tuple(sorted({model.topic for model in portal_consumes()})),
}


@dataclass
class System:
    """The three services as processes on a database of their own, with consumer groups of their own."""

    infra: Infrastructure
    environments: dict[str, dict[str, str]]

    def start(self, name: str) -> None:
        services.start(name, self.environments[name])
        services.wait_healthy(name)


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    """Fresh state every run, whatever `make run` left in the development database or on the topics."""
    with real_infrastructure() as infra:
        if infra.kafka != kafka.BOOTSTRAP:
            pytest.fail("the end-to-end tier runs the services on the local infrastructure (`make test`)")
        services.stop_all()
        postgres.fresh_database(E2E_DATABASE)
        run = uuid.uuid4().hex[:6]
        environments = {}
        for name, (_, schema, _) in services.SERVICES.items():
            group = f"{name}-e2e-{run}"
            if INPUTS[name]:
                asyncio.run(group_starts_at_end(infra.kafka, group, *INPUTS[name]))
            environments[name] = {"DATABASE_URL": postgres.service_url(schema, E2E_DATABASE), "CONSUMER_GROUP": group}
        system = System(infra, environments)
        try:
            for name in services.SERVICES:
                system.start(name)
            yield system
        finally:
            services.stop_all()


async def run(
    size: Size, seed: int, fault: asyncio.Event | None = None, chaos: Chaos | None = None
) -> tuple[Sent, list[tuple[str, object, object]]]:
    at = endpoints()

    async with client(timeout=60) as http:
        before = await dead_letter_counts(http, at)

    def step(phase: str, advance: int, total: int | None) -> None:
        if fault is not None and phase == "finish professional" and advance > 0:
            fault.set()

    async def main_job() -> Sent:
        sent = await play(at, size, seed, step)
        sent.dead_letters_before = before
        if chaos:
            await chaos.settle_after()
        await settle(at, sent, step, timeout=300)
        return sent

    sent = await (chaos.during(main_job()) if chaos else main_job())
    return sent, reconcile(sent, await gather(at, sent))


async def test_a_cohort_flows_from_enrolment_to_green_card_and_the_numbers_reconcile(system: System) -> None:
    sent, checks = await run(SMALL, seed=1)
    assert [c for c in checks if c[1] != c[2]] == []
    assert sent.accepted["senior"] > 0 and len(sent.senior_passers) > 0
    assert sent.refused["enrolled_elsewhere"] + sent.refused["already_enrolled"] > 0  # double claims were tried
    assert sent.refused["invalid_id_number"] + sent.refused["invalid_field"] > 0  # bad rows were refused
    assert_hostile_rows_were_played_and_refused(sent)


def assert_hostile_rows_were_played_and_refused(sent: Sent) -> None:
    """Every kind of hostile row was sent and refused with its code; one institution was suspended mid-run."""
    assert {kind for kind, _ in sent.hostile} == set(hostile.EXPECTED)  # every kind played at least once
    assert {(kind, code) for kind, code in sent.hostile} == set(hostile.EXPECTED.items())  # each refused as it must
    for code in (
        "already_enrolled",  # another spelling of a person enrolled here ...
        "enrolled_elsewhere",  # ... or elsewhere
        "tier_already_completed",
        "tier_out_of_order",
        "invalid_id_number",  # born after today, region 000000
        "age_out_of_range",
        "outside_plan_period",  # a course starting before the plan, or too late to end in it
        "date_in_future",
        "institution_suspended",
    ):
        assert sent.refused[code] > 0, code
    for code in ("outside_plan_period", "date_in_future", "course_too_short", "enrollment_not_found"):
        assert sent.completion_refused[code] > 0, code
    assert set(sent.respelled) == set(hostile.FORMS)  # full-width, Arabic-Indic, spaces, zero-width, lowercase x
    refused, still_open = sent.completions_refused_then_open
    assert refused == still_open > 0
    suspension = sent.suspension
    assert suspension is not None and suspension.passed > 0
    assert suspension.held_seen == suspension.passed and suspension.funding_status == "suspended"


async def test_funding_killed_and_restarted_mid_run_loses_nothing_and_applies_nothing_twice(
    system: System,
) -> None:
    fault = asyncio.Event()

    async def crash_funding() -> None:
        await fault.wait()
        await asyncio.to_thread(services.kill, "funding")  # SIGKILL while completions are being decided
        await asyncio.sleep(2)
        await asyncio.to_thread(system.start, "funding")

    crash = asyncio.create_task(crash_funding())
    sent, checks = await run(SMALL, seed=2, fault=fault)
    await crash
    assert fault.is_set() and sent.passed["professional"] > 0
    assert [c for c in checks if c[1] != c[2]] == []  # every completion decided once, every notice once
    assert sent.suspension is not None and sent.suspension.held_seen > 0  # held across the restart, then decided


async def test_the_main_job_survives_chaos_and_still_reconciles(system: System) -> None:
    """Issue 10: funding and talent-card SIGKILLed and restarted at random, the broker and PostgreSQL restarted
    once each, while the simulator plays; it retries, the runtime recovers, every check agrees."""
    chaos = Chaos(system.start, random.Random(7), pause=(0.2, 1.0))
    sent, checks = await run(CHAOS, seed=7, chaos=chaos)
    print(chaos.summary(), *chaos.log, sep="\n")
    assert len(chaos.log) >= 4  # every planned fault happened while the job ran, not after it
    assert chaos.kills["funding"] >= 1 and chaos.kills["talent-card"] >= 1
    assert chaos.broker_restarts == 1 and chaos.database_restarts == 1
    assert [c for c in checks if c[1] != c[2]] == [], chaos.summary()
    assert sent.passed["professional"] > 0 and sent.accepted["senior"] > 0


def test_the_readme_walk_through_runs_against_the_services(system: System) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(["bash", "docs/walkthrough.sh"], cwd=root, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert '"code": "tier_out_of_order"' in done.stdout and '"code": "not_reversible"' in done.stdout
    assert '"status": "issued"' in done.stdout and done.stdout.rstrip().endswith("walk-through complete")
