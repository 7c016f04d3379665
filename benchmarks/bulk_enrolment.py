"""Benchmark: how fast institutions can load cohorts through POST /cohorts (the real service, over HTTP).

    .venv/bin/python -m benchmarks.bulk_enrolment --rows 110200 --chunk 10000

Needs the services running (`make services`). Prints rows per second for the whole load, from the
first request to the last answer (validation, pseudonymisation, rules, one transaction per chunk
with its outbox rows). Each run enrols brand-new people at a brand-new institution.
"""

import asyncio
import json
import random
import time
import uuid
from typing import Annotated

import httpx
import typer
from rich.progress import Progress

from infra import secrets, services
from simulation.cohort import Population, enrolment_row, start_date


async def load(rows: int, chunk: int) -> tuple[int, float]:
    rng = random.Random(7)
    people = Population(rng)
    url = services.url("enrollment")
    bureau = {"X-API-Key": secrets.load()["BUREAU_API_KEY"]}
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        institution = (
            await http.post("/institutions", headers=bureau, json={"name": f"Benchmark Academy {uuid.uuid4().hex[:6]}"})
        ).json()
        key = (await http.post(f"/institutions/{institution['id']}/keys", headers=bureau)).json()["api_key"]
        bodies = []
        for start in range(0, rows, chunk):
            lines = [
                json.dumps(enrolment_row(people.person(), "basic", "offline", start_date(rng)))
                for _ in range(min(chunk, rows - start))
            ]
            bodies.append("\n".join(lines))
        accepted = 0
        with Progress() as bar:
            task = bar.add_task("POST /cohorts", total=rows)
            started = time.perf_counter()
            for body in bodies:
                answer = await http.post(
                    "/cohorts", content=body, headers={"X-API-Key": key, "Content-Type": "application/x-ndjson"}
                )
                answer.raise_for_status()
                accepted += answer.json()["accepted"]
                bar.advance(task, body.count("\n") + 1)
            elapsed = time.perf_counter() - started
    return accepted, elapsed


def main(
    rows: Annotated[int, typer.Option(help="rows to enrol")] = 110_200,
    chunk: Annotated[int, typer.Option(help="rows per request")] = 10_000,
) -> None:
    """Enrol ROWS new trainees in chunks and print the rate."""
    accepted, elapsed = asyncio.run(load(rows, chunk))
    print(
        f"bulk enrolment: {accepted:,} rows accepted in {elapsed:.1f}s = {accepted / elapsed:,.0f} rows/s "
        f"(chunks of {chunk:,})"
    )


if __name__ == "__main__":
    typer.run(main)
