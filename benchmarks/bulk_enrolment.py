"""Benchmark: how fast institutions load cohorts through POST /cohorts, then report their completions through
POST /completions (the real service, over HTTP).

    .venv/bin/python -m benchmarks.bulk_enrolment --rows 110200 --chunk 10000

Needs the services running (`make services`). Prints rows per second for each part, from the first request
to the last answer: cohorts (validation, pseudonymisation, rules, one transaction per chunk with its
outbox rows), then a completion row for every accepted enrolment (same chunks: the rules, one transaction per
chunk with its outbox rows). Each run enrols brand-new people at a brand-new institution. `--parallel N`
sends N chunks at once (the requests of one institution then meet on its rows: the day's intake count).
"""

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import httpx
import typer
import uvloop
from rich.progress import Progress

from infra import secrets, services
from simulation.cohort import Population, course_end, enrolment_row, start_date


@dataclass(frozen=True)
class Result:
    accepted: int  # cohort rows accepted
    elapsed: float  # seconds, first cohort request to last answer
    completed: int = 0  # completion rows accepted
    completions_elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed if self.elapsed else 0.0

    @property
    def completions_rate(self) -> float:
        return self.completed / self.completions_elapsed if self.completions_elapsed else 0.0


async def _post_all(
    http: httpx.AsyncClient, path: str, bodies: list[str], key: str, parallel: int, bar: Progress, label: str
) -> tuple[list[dict[str, Any]], float]:
    """Every body POSTed (at most `parallel` at once); the answers in the order of the bodies, and the time."""
    task = bar.add_task(label, total=sum(b.count("\n") + 1 for b in bodies))
    gate = asyncio.Semaphore(parallel)
    headers = {"X-API-Key": key, "Content-Type": "application/x-ndjson"}

    async def post(body: str) -> dict[str, Any]:
        async with gate:
            answer = await http.post(path, content=body, headers=headers)
            answer.raise_for_status()
            bar.advance(task, body.count("\n") + 1)
            found: dict[str, Any] = answer.json()
            return found

    started = time.perf_counter()
    answers = await asyncio.gather(*(post(b) for b in bodies))
    return answers, time.perf_counter() - started


async def run(rows: int, chunk: int, completions: bool = True, parallel: int = 1) -> Result:
    rng = random.Random(7)
    people = Population(rng)
    url = services.url("enrollment")
    bureau = {"X-API-Key": secrets.load()["BUREAU_API_KEY"]}
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        institution = (
            await http.post("/institutions", headers=bureau, json={"name": f"Benchmark Academy {uuid.uuid4().hex[:6]}"})
        ).json()
        key = (await http.post(f"/institutions/{institution['id']}/keys", headers=bureau)).json()["api_key"]
        sent: list[dict[str, object]] = [
            enrolment_row(people.person(), "basic", "offline", start_date(rng)) for _ in range(rows)
        ]
        bodies = ["\n".join(json.dumps(r) for r in sent[i : i + chunk]) for i in range(0, rows, chunk)]
        with Progress() as bar:
            answers, elapsed = await _post_all(http, "/cohorts", bodies, key, parallel, bar, "POST /cohorts")
            accepted = sum(a["accepted"] for a in answers)
            if not completions:
                return Result(accepted, elapsed)
            done = []
            for start, answer in zip(range(0, rows, chunk), answers, strict=True):
                for row, outcome in zip(sent[start : start + chunk], answer["results"], strict=True):
                    if outcome["accepted"]:
                        passed = rng.random() >= 0.05
                        ended = course_end(rng, date.fromisoformat(str(row["starts_on"])))
                        line: dict[str, object] = {
                            "enrollment_id": outcome["enrollment_id"],
                            "passed": passed,
                            "completed_on": ended.isoformat(),
                        }
                        if passed:
                            line["outcome"] = rng.choice(("employed", "own_business", "seeking"))
                        done.append(json.dumps(line))
            bodies = ["\n".join(done[i : i + chunk]) for i in range(0, len(done), chunk)]
            answers, completions_elapsed = await _post_all(
                http, "/completions", bodies, key, parallel, bar, "POST /completions"
            )
    return Result(accepted, elapsed, sum(a["accepted"] for a in answers), completions_elapsed)


def main(
    rows: Annotated[int, typer.Option(help="rows to enrol")] = 110_200,
    chunk: Annotated[int, typer.Option(help="rows per request")] = 10_000,
    completions: Annotated[bool, typer.Option(help="then report a completion for every accepted row")] = True,
    parallel: Annotated[int, typer.Option(min=1, help="requests in flight at once")] = 1,
) -> None:
    """Enrol ROWS new trainees in chunks, then complete them, and print the rates."""
    result = uvloop.run(run(rows, chunk, completions, parallel))
    print(
        f"bulk enrolment: {result.accepted:,} rows accepted in {result.elapsed:.1f}s = {result.rate:,.0f} rows/s "
        f"(chunks of {chunk:,}, {parallel} at once)"
    )
    if completions:
        print(
            f"bulk completions: {result.completed:,} rows accepted in {result.completions_elapsed:.1f}s = "
            f"{result.completions_rate:,.0f} rows/s (chunks of {chunk:,}, {parallel} at once)"
        )


if __name__ == "__main__":
    typer.run(main)
