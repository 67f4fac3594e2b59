"""Prometheus metrics of one app instance, read from fastapi-zdk's Lifecycle
(`app.state.lifecycle`) at scrape time.

The request path only bumps plain integers (the middleware runs on the event loop
thread); no metric locks per request. Own registry: apps in one process never clash.
Without the lifecycle (the benchmark's baseline app) only app_info and the process
metrics are exported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class LifecycleState(Protocol):
    """What the metrics read of fastapi_zdk.Lifecycle."""

    @property
    def ready(self) -> bool: ...

    @property
    def draining(self) -> bool: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def responses(self) -> dict[int, int]: ...


class Metrics(Collector):
    """Requests by status, requests in flight, draining, readiness and app info."""

    def __init__(self, state: LifecycleState | None, version: str, revision: str) -> None:
        self.state = state
        self.version = version
        self.revision = revision
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.registry.register(self)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        state = self.state
        if state is not None:
            requests = CounterMetricFamily(
                "http_requests", "HTTP requests answered, by status code", labels=["status"]
            )
            for status, count in sorted(state.responses.items()):
                requests.add_metric([str(status)], count)
            yield requests
            yield GaugeMetricFamily(
                "http_requests_in_flight", "HTTP requests being served now", value=state.in_flight
            )
            yield GaugeMetricFamily(
                "app_draining",
                "1 from the termination signal on (readiness 503, Connection: close)",
                value=int(state.draining),
            )
            yield GaugeMetricFamily(
                "app_ready", "1 while /health/ready answers 200", value=int(state.ready)
            )
        info = GaugeMetricFamily(
            "app_info", "Version and revision of the running app", labels=["version", "revision"]
        )
        info.add_metric([self.version, self.revision], 1)
        yield info
