"""Play the live-commerce talent plan end to end through the real services, then report and reconcile.

Starts PostgreSQL, Kafka and the three services if they are not running, simulates training
institutions (bulk and single enrolments, withdrawals, failed assessments, people trained by
two institutions, invalid rows, a small share of hostile rows that must be refused, one
institution suspended and reinstated mid-run), completes courses after their length, lets the
talent office verify introduced talents, waits for funding and the talent office to catch up, and
prints a report whose last line is the reconciliation of all three services against what was sent.
"""

import asyncio
import random
import time
from typing import Annotated

import typer
import uvloop
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infra import kafka, postgres, secrets, services
from simulation.chaos import Chaos
from simulation.client import client
from simulation.cohort import DEFAULT, FULL_PLAN, Size
from simulation.play import Endpoints, Sent, play, settle
from simulation.report import dead_letter_counts, gather, reconcile, render

app = typer.Typer(add_completion=False)


def endpoints() -> Endpoints:
    keys = secrets.load()
    return Endpoints(
        services.url("enrollment"),
        services.url("funding"),
        services.url("talent-card"),
        keys["BUREAU_API_KEY"],
        keys["FINANCE_API_KEY"],
        keys["TALENT_OFFICE_API_KEY"],
    )


async def run_plan(size: Size, seed: int, console: Console, chaos: Chaos | None = None) -> tuple[Sent, bool, float]:
    started = time.monotonic()
    with Progress(
        TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        tasks: dict[str, int] = {}

        def step(phase: str, advance: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            elif total is not None:
                bar.update(tasks[phase], total=total)
            bar.advance(tasks[phase], advance)

        at = endpoints()
        async with client(timeout=60) as http:
            before = await dead_letter_counts(http, at)

        async def main_job() -> Sent:
            sent = await play(at, size, seed, step)
            sent.dead_letters_before = before
            if chaos:
                await chaos.settle_after()
            await settle(at, sent, step)
            return sent

        sent = await (chaos.during(main_job()) if chaos else main_job())
    wall = time.monotonic() - started
    numbers = await gather(at, sent)
    if chaos:
        console.print(chaos.summary())
        console.print(await outbox_backlog())
    ok = render(console, sent, numbers, reconcile(sent, numbers), wall)
    return sent, ok, wall


HELP = (
    "Play the live-commerce talent plan end to end through the real services, then report and reconcile.\n\n"
    "Starts PostgreSQL, Kafka and the three services if they are not running. Six training institutions enrol a "
    "cohort (bulk and single, with invalid rows and double claims), withdraw some trainees, report completions and "
    "failed assessments, and move passers on to the next tier; the talent office verifies introduced talents.\n\n"
    "About 1% of the rows are hostile and must be refused: known people under another spelling of their ID number "
    "(full-width or Arabic-Indic digits, spaces, zero-width characters, a lowercase x), people born after today or "
    "from region 000000, courses and completions outside the plan's period or in the future. One institution is "
    "suspended before it reports its professional completions (funding holds them) and reinstated before the end.\n\n"
    "It waits for funding and the talent office to catch up, prints progress against the targets, the fund, subsidy "
    "decisions, green-card notices and dead letters, and ends with the reconciliation line (exit code 1 if any check "
    "fails). The services keep running unless --exit is given."
)


@app.command(help=HELP)
def main(
    trainees: Annotated[
        int, typer.Option(min=10, help="basic-tier trainees (professional ~12%, senior ~1.2%)")
    ] = 10_000,
    full_plan: Annotated[
        bool, typer.Option("--full-plan", help="the whole two-year plan: 100,000 / 10,000 / 200")
    ] = False,
    seed: Annotated[int, typer.Option(help="random seed of the simulated cohort")] = 2020,
    exit_after: Annotated[bool, typer.Option("--exit", help="stop the services after the report")] = False,
    chaos: Annotated[
        bool,
        typer.Option(
            "--chaos",
            help="while playing, SIGKILL and restart funding and talent-card at random, restart the broker once and "
            "PostgreSQL once; the reconciliation must still agree",
        ),
    ] = False,
) -> None:
    """Play the plan through the real services, then report and reconcile (see HELP)."""
    console = Console(width=max(Console().width, 130))
    postgres.start()
    kafka.start()
    from plan_runtime.topics import ensure_topics

    asyncio.run(ensure_topics(kafka.BOOTSTRAP))
    services.start_all()
    size = (
        FULL_PLAN
        if full_plan
        else (
            DEFAULT
            if trainees == DEFAULT.basic
            else Size(trainees, max(1, trainees * 12 // 100), max(1, trainees * 12 // 1000))
        )
    )
    console.print(
        f"Playing the plan: {size.basic:,} basic, {size.professional:,} professional, "
        f"{size.senior:,} senior enrolments (seed {seed})"
    )
    faults = Chaos(_start_ready, random.Random(seed)) if chaos else None
    sent, ok, _ = uvloop.run(run_plan(size, seed, console, faults))
    if exit_after:
        services.stop_all()
    else:
        console.print("The services keep running; try their APIs by hand (keys in .local/secrets.env):")
        for name in services.APIS:
            console.print(f"  {name:<12} {services.url(name)}/docs")
        print_web_address(console, sent)
        console.print("Stop everything with `make stop`.")
    raise typer.Exit(0 if ok else 1)


def print_web_address(console: Console, sent: Sent) -> None:
    """The last lines of the main job: where the web pages are, and a key that opens each role's pages."""
    keys = secrets.load()
    web = services.url("portal")
    console.print(f"\n[bold]The plan on a screen: {web}[/bold]  (Chinese; English at the top right)")
    console.print(f"  public open data, no key         {web}/open")
    for label, key in (
        ("Bureau (人社局)", keys["BUREAU_API_KEY"]),
        ("finance office (财政)", keys["FINANCE_API_KEY"]),
        ("talent office (人才办)", keys["TALENT_OFFICE_API_KEY"]),
    ):
        console.print(f"  {label:<32} {web}/login  key: {key}")
    for name, (_, key) in sorted(sent.institutions.items())[:1]:
        console.print(f"  {'institution ' + name:<32} {web}/login  key: {key}")


async def outbox_backlog() -> str:
    """What each service's outbox still holds (unpublished, parked), from its readiness report."""
    parts = []
    async with client(timeout=30) as http:
        for name in services.SERVICES:
            relay = (await http.get(f"{services.url(name)}/health/ready")).json().get("relay", {})
            parts.append(f"{name} {relay.get('unpublished')} unpublished / {relay.get('parked')} parked")
    return "outbox at the end: " + ", ".join(parts)


def _start_ready(name: str) -> None:
    services.start(name)
    services.wait_healthy(name)


if __name__ == "__main__":
    app()
