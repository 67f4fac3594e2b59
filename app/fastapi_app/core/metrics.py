"""Prometheus metrics of one app instance (own registry: apps in one process never clash)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector


class Metrics:
    """Requests by status, requests in flight, draining and readiness."""

    def __init__(self, version: str, revision: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests", "HTTP requests answered, by status code", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.in_flight = Gauge(
            "http_requests_in_flight", "HTTP requests being served now", registry=self.registry
        )
        self.draining = Gauge(
            "app_draining", "1 from the termination signal on (readiness 503, Connection: close)",
            registry=self.registry,
        )  # fmt: skip
        self.ready = Gauge("app_ready", "1 while /health/ready answers 200", registry=self.registry)
        info = Gauge(
            "app_info", "Version and revision of the running app", ["version", "revision"],
            registry=self.registry,
        )  # fmt: skip
        info.labels(version=version, revision=revision).set(1)
        self._by_status: dict[int, Counter] = {}

    def count_response(self, status: int) -> None:
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self.requests.labels(status=str(status))
        child.inc()
