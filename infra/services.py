"""The three services as separate uvicorn processes, each with its own runtime role's DSN and only its secrets."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra import kafka, postgres, secrets
from infra.paths import LOCAL, LOGS

PORT_BASE = int(os.environ.get("PLAN_SERVICE_PORT_BASE", "8000"))  # a second checkout on one machine: 8100
SERVICES = {  # name: (python package, schema, port)
    "enrollment": ("enrollment", "enrollment", PORT_BASE + 1),
    "funding": ("funding", "funding", PORT_BASE + 2),
    "talent-card": ("talent_card", "talent_card", PORT_BASE + 3),
    "portal": ("portal", "portal", PORT_BASE + 4),  # the web pages; it calls the others with the caller's key
}
APIS = ("enrollment", "funding", "talent-card")  # the services with an HTTP API of their own (OpenAPI, keys)
# Processes serving each service (uvicorn --workers): enrollment's intake is CPU-bound Python (parsing, rules,
# events), so it runs two; it consumes nothing, and its two outbox relays claim disjoint rows (FOR UPDATE SKIP
# LOCKED), as replicas do (architecture: nothing assumes a single replica). The others stay at one process: their
# consumers use static group membership (CONSUMER_INSTANCE_ID below), one id per process, so a service that
# consumes needs an id per worker before it may run more than one.
WORKERS = {
    "enrollment": int(os.environ.get("PLAN_ENROLLMENT_WORKERS", "2")),
    "funding": 1,
    "talent-card": 1,
    "portal": 1,  # it consumes (static membership) and its live streams' watcher is per process
}
# uvicorn's compiled event loop (uvloop) and HTTP parser (httptools), named so that a missing one fails at start
# instead of falling back to the pure-Python ones: with those, a full plan cost 132 CPU-seconds against 116, and
# an enrolment 4.3 against 3.2 ms of the service's CPU (docs/performance.md, seventh round). The Dockerfile runs
# the same (a unit test keeps them equal).
SERVER = ("--loop", "uvloop", "--http", "httptools")
# Least privilege: the secrets each process gets besides its runtime role's DSN (see its Settings class).
SECRETS = {
    "enrollment": ("PII_HMAC_KEY", "BUREAU_API_KEY"),
    "funding": ("FINANCE_API_KEY",),
    "talent-card": ("TALENT_OFFICE_API_KEY", "PII_HMAC_KEY", "BUREAU_API_KEY"),  # the Bureau reads its read audit
    "portal": ("PORTAL_SESSION_SECRET",),  # no role's key: each caller logs in with their own
}


def url(name: str) -> str:
    return f"http://127.0.0.1:{SERVICES[name][2]}"


def environment(name: str) -> dict[str, str]:
    """What the process of `name` is given: its runtime role's DSN (it does not migrate: `infra up` did) and
    its own secrets, nothing of the other services'."""
    _, schema, port = SERVICES[name]
    values = secrets.load()
    return {
        "DATABASE_URL": postgres.service_url(schema),
        "DB_SCHEMA": schema,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.BOOTSTRAP,
        # static group membership: a process restarted on this port gets its partitions back at once
        "CONSUMER_INSTANCE_ID": f"{name}-{port}",
        **{k: values[k] for k in SECRETS[name]},
        **({f"{n.upper().replace('-', '_')}_URL": url(n) for n in SERVICES if n != name} if name == "portal" else {}),
    }


def inherited() -> dict[str, str]:
    """The caller's environment without any secret or DSN in it (a shell after `eval "$(python -m infra env)"`
    holds every key): a service process gets only what `environment()` adds."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in secrets.NAMES and not k.endswith("DATABASE_URL") and k not in ("PGPASSWORD", "MIGRATE_ON_START")
    }


def _pidfile(name: str) -> os.PathLike[str]:
    return LOCAL / "run" / f"{name}.pid"


def _pid(name: str) -> int | None:
    try:
        pid = int(Path(_pidfile(name)).read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def start(name: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    package, _, port = SERVICES[name]
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOCAL / "run").mkdir(parents=True, exist_ok=True)
    with (LOGS / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                f"{package}.main:build_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                *SERVER,
                # the portal's pages hold a live stream open: a stop does not wait for the browsers to close them
                *(["--timeout-graceful-shutdown", "5"] if name == "portal" else []),
                *(["--workers", str(WORKERS[name])] if WORKERS[name] > 1 else []),
            ],
            env={**inherited(), **environment(name), **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    with open(_pidfile(name), "w") as pidfile:
        pidfile.write(str(process.pid))
    return process


def wait_healthy(name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url(name)}/health", timeout=3)
            if answer.status_code == 200:
                return
            last = answer.text
        except httpx.HTTPError as error:
            last = str(error)
        time.sleep(0.5)
    raise SystemExit(f"{name}: not healthy after {timeout:.0f}s ({last}); see {LOGS / (name + '.log')}")


def start_all() -> None:
    for name in SERVICES:
        if _pid(name) is None:
            start(name)
    for name in SERVICES:
        wait_healthy(name)
        print(f"{name}: healthy at {url(name)} (API docs: {url(name)}/docs)")


def stop(name: str) -> None:
    """SIGTERM: the service finishes its batch and its relay commits what it published; SIGKILL after 10 s."""
    if not _end(name, signal.SIGTERM, patience=10):
        _end(name, signal.SIGKILL, patience=5)
    if os.path.exists(_pidfile(name)):
        os.remove(_pidfile(name))


def kill(name: str) -> None:
    """SIGKILL, as a crash would: no graceful shutdown, nothing flushed (the tests' fault injection)."""
    _end(name, signal.SIGKILL, patience=5)


def _end(name: str, sig: signal.Signals, patience: float) -> bool:
    """Send `sig` and wait until the process is gone (reaping it if we started it); False if it is not."""
    pid = _pid(name)
    if pid is None:
        return True
    try:  # the whole process group (started with a session of its own): uvicorn's workers too, never orphaned
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):  # not a group leader
        os.kill(pid, sig)
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if _pid(name) is None:
            return True
        time.sleep(0.05)
    return False


def stop_all() -> None:
    for name in SERVICES:
        stop(name)


def is_running(name: str) -> bool:
    return _pid(name) is not None


def status() -> dict[str, str]:
    return {name: f"{url(name)}  {'up' if _pid(name) else 'down'}" for name in SERVICES}
