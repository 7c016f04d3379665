"""Benchmark: how long a SIGKILLed funding process takes to consume again after it is restarted.

    .venv/bin/python -m benchmarks.rejoin --rounds 3

Starts the local funding service (PostgreSQL and Kafka must be up: `make infra`), then, for dynamic group
membership (no CONSUMER_INSTANCE_ID) and for static membership (CONSUMER_INSTANCE_ID set), SIGKILLs it,
starts it again at once and measures the seconds from the restart until its readiness reports every
consumer polling with partitions assigned. With dynamic membership the group waits for the dead member's
session to expire (CONSUMER_SESSION_TIMEOUT_MS, 10 s) before it hands the partitions out again; a static
member takes its partitions back at once. Prints one line per mode.
"""

import statistics
import time

import httpx
import typer

from infra import services

app = typer.Typer(add_completion=False)


def consuming(timeout: float = 120) -> float:
    """Seconds until funding's readiness shows every consumer with partitions and a recent poll."""
    started, url = time.monotonic(), services.url("funding")
    while time.monotonic() - started < timeout:
        try:
            report = httpx.get(f"{url}/health/ready", timeout=2).json()
            consumers = report.get("consumers", {}).values()
            if consumers and all(
                c["partitions_assigned"] > 0 and c["seconds_since_last_poll"] is not None for c in consumers
            ):
                return time.monotonic() - started
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    raise TimeoutError("funding did not consume again")


def measure(static: bool, rounds: int) -> list[float]:
    env = {} if static else {"CONSUMER_INSTANCE_ID": ""}
    services.stop("funding")
    services.start("funding", env)
    consuming()
    times = []
    for _ in range(rounds):
        services.kill("funding")
        services.start("funding", env)
        times.append(consuming())
    return times


@app.command()
def main(rounds: int = typer.Option(3, min=1, help="kills and restarts per mode")) -> None:
    """SIGKILL and restart funding, with dynamic and with static group membership; print the rejoin times."""
    for static in (False, True):
        times = measure(static, rounds)
        mode = "static membership (CONSUMER_INSTANCE_ID)" if static else "dynamic membership"
        print(
            f"rejoin after SIGKILL, {mode}: median {statistics.median(times):.1f} s "
            f"(runs: {', '.join(f'{t:.1f}' for t in times)})"
        )
    services.stop("funding")
    services.start("funding")


if __name__ == "__main__":
    app()
