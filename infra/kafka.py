"""A real Apache Kafka 4.x broker in KRaft mode, resolved by Maven and run with the machine's Java."""

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from infra.paths import LOCAL

HOME = LOCAL / "kafka"
LIBS = HOME / "libs"
DATA = HOME / "data"
PIDFILE = HOME / "kafka.pid"
LOG = HOME / "kafka.log"
POM = Path(__file__).parent / "kafka" / "pom.xml"
PORT = int(os.environ.get("PLAN_KAFKA_PORT", "9092"))
BOOTSTRAP = f"127.0.0.1:{PORT}"

SERVER_PROPERTIES = f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{PORT + 1}
listeners=PLAINTEXT://127.0.0.1:{PORT},CONTROLLER://127.0.0.1:{PORT + 1}
advertised.listeners=PLAINTEXT://127.0.0.1:{PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={DATA}
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
"""

LOG4J = """\
Configuration:
  Appenders:
    Console: {name: STDOUT, PatternLayout: {Pattern: "[%d] %p %m (%c)%n"}}
  Loggers:
    Root: {level: INFO, AppenderRef: [{ref: STDOUT}]}
    Logger:
      - {name: kafka.request.logger, level: WARN}
      - {name: org.apache.kafka.controller, level: WARN}
      - {name: state.change.logger, level: WARN}
"""


def fetch() -> None:
    """Resolve the pinned broker and its runtime dependencies once (Maven Central)."""
    stamp = LIBS / ".pom-stamp"
    if stamp.exists() and stamp.read_text() == POM.read_text():
        return
    shutil.rmtree(LIBS, ignore_errors=True)
    print("kafka: resolving the broker with Maven (first run only)...", flush=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={LIBS}",
        ],
        check=True,
    )
    stamp.write_text(POM.read_text())


BROKER_HEAP = "-Xmx512m"
JIT = "-XX:TieredStopAtLevel=1"
"""The client compiler (C1) only. With the JVM's default tiered compilation the optimising compiler (C2) kept
compiling the broker's code through the first plans of its life: 29 CPU-seconds of compilation for a fresh
broker's first plan, of a broker total of 25 (during the plan) on a 2-core box where every process competes for
the same cores. With C1 only: 2.5 s of compilation, the broker 16 CPU-seconds per plan, and the latency
benchmark's p99 at 200/s 47-57 ms instead of 67-84 (docs/performance.md, seventh round). docker-compose.yml
passes the same options (a unit test keeps them equal)."""


def _java(main: str, *args: str, heap: str = "-Xmx128m") -> list[str]:
    return [
        "java",
        heap,
        JIT,
        f"-Dlog4j2.configurationFile={HOME / 'log4j2.yaml'}",
        "-cp",
        f"{LIBS}/*",
        main,
        *args,
    ]


def _pid() -> int | None:
    try:
        pid = int(PIDFILE.read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


async def _answers(timeout: float) -> bool:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # "connection refused" is expected while it starts
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=3000)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if PIDFILE.exists() and _pid() is None:
            return False  # our broker died while starting
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except Exception:
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
    return False


def running() -> bool:
    return _pid() is not None and asyncio.run(_answers(3))


def start(timeout: float = 90) -> None:
    if _pid() is not None:
        print(f"kafka: already running (pid {_pid()})")
    elif _port_taken():
        raise SystemExit(f"kafka: something else already listens on {BOOTSTRAP}; stop it first")
    else:
        fetch()
        HOME.mkdir(parents=True, exist_ok=True)
        (HOME / "server.properties").write_text(SERVER_PROPERTIES)
        (HOME / "log4j2.yaml").write_text(LOG4J)
        if not (DATA / "meta.properties").exists():
            subprocess.run(
                _java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    _cluster_id(),
                    "-c",
                    str(HOME / "server.properties"),
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        with LOG.open("ab") as log:
            process = subprocess.Popen(
                _java("kafka.Kafka", str(HOME / "server.properties"), heap=BROKER_HEAP),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        PIDFILE.write_text(str(process.pid))
        print(f"kafka: starting (pid {process.pid}, log: {LOG})", flush=True)
    if not asyncio.run(_answers(timeout)) or _pid() is None:
        raise SystemExit(f"kafka: no answer on {BOOTSTRAP} after {timeout:.0f}s; see {LOG}")
    print(f"kafka: answering on {BOOTSTRAP}")


def _port_taken() -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", PORT)) == 0


def _cluster_id() -> str:
    """Kafka's form: 22 URL-safe base64 characters, never starting with "-" (it would read as an option)."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()).startswith("-"):
        pass
    return cluster_id


def stop(timeout: float = 60) -> None:
    pid = _pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid() is not None:
        with contextlib.suppress(ChildProcessError):  # reap it if we started it
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    if _pid() is not None:
        os.kill(pid, signal.SIGKILL)
    PIDFILE.unlink(missing_ok=True)
    print("kafka: stopped")


def wipe() -> None:
    stop()
    shutil.rmtree(DATA, ignore_errors=True)
