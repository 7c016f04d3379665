"""`/metrics` in Prometheus' text format: what readiness measures, as numbers an alert can watch."""

from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    """One registry per service process (never the global one: tests run several apps in one process)."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"service": service}
        self._ready = Gauge("plan_ready", "1 when the service is ready", ["service"], registry=self.registry)
        self._unpublished = Gauge(
            "plan_outbox_unpublished", "outbox rows waiting to be published", ["service"], registry=self.registry
        )
        self._parked = Gauge(
            "plan_outbox_parked",
            "outbox rows the broker refused for good (parked)",
            ["service"],
            registry=self.registry,
        )
        self._oldest = Gauge(
            "plan_outbox_oldest_unpublished_seconds",
            "age of the oldest unpublished row",
            ["service"],
            registry=self.registry,
        )
        self._lag = Gauge(
            "plan_consumer_lag",
            "records behind the end of the assigned partitions",
            ["service", "consumer"],
            registry=self.registry,
        )
        self._assigned = Gauge(
            "plan_consumer_partitions", "partitions assigned", ["service", "consumer"], registry=self.registry
        )
        self._restarts = Gauge(
            "plan_task_restarts",
            "times a consumer or relay task was restarted",
            ["service", "task"],
            registry=self.registry,
        )
        self.labels = labels

    def render(self, report: dict[str, Any]) -> bytes:
        service = self.labels["service"]
        self._ready.labels(service).set(1 if report["status"] == "ok" else 0)
        relay = report.get("relay", {})
        for gauge, key in ((self._unpublished, "unpublished"), (self._parked, "parked")):
            if relay.get(key) is not None:
                gauge.labels(service).set(relay[key])
        self._oldest.labels(service).set(relay.get("oldest_unpublished_seconds") or 0)
        self._restarts.labels(service, "relay").set(relay.get("restarts", 0))
        for name, consumer in report.get("consumers", {}).items():
            if consumer["lag"] is not None:
                self._lag.labels(service, name).set(consumer["lag"])
            self._assigned.labels(service, name).set(consumer["partitions_assigned"])
            self._restarts.labels(service, name).set(consumer["restarts"])
        return generate_latest(self.registry)
