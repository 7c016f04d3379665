"""Where the real Kafka broker and PostgreSQL come from, and how a test restarts the broker."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol


class BrokerControl(Protocol):
    def stop(self) -> None: ...
    def start(self) -> None: ...


@dataclass
class Infrastructure:
    kafka: str
    database_url: str
    broker: BrokerControl


class LocalBroker:
    """The broker `python -m infra up` runs (what `make test` and CI use)."""

    def stop(self) -> None:
        from infra import kafka

        kafka.stop()

    def start(self) -> None:
        from infra import kafka

        kafka.start()


class ContainerBroker:
    def __init__(self, container: object) -> None:
        self.container = container

    def stop(self) -> None:
        self.container.get_wrapped_container().stop()  # type: ignore[attr-defined]

    def start(self) -> None:
        self.container.get_wrapped_container().start()  # type: ignore[attr-defined]


def _docker_available() -> bool:
    return (
        shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )


@contextmanager
def real_infrastructure() -> Iterator[Infrastructure]:
    kafka, database = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("DATABASE_URL")
    if kafka and database:
        yield Infrastructure(kafka, database, LocalBroker())
        return
    if not _docker_available():
        raise RuntimeError(
            "Integration tests need the real Kafka broker and PostgreSQL: run them with `make test` "
            "(which starts both), or set KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL, or have Docker "
            "for testcontainers. They are never skipped."
        )
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with (
        KafkaContainer("apache/kafka:4.1.0").with_kraft() as broker,
        PostgresContainer("postgres:15", driver=None) as pg,
    ):
        yield Infrastructure(broker.get_bootstrap_server(), pg.get_connection_url(), ContainerBroker(broker))
