"""Smoke checks and the analysis window, shared by the zdk_checks module and its unit
tests: requests to single pods through the API server's pod proxy, the app's own
Prometheus counters, and the judgement of a pod's container restarts and readiness."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# One sample line of a counter: name{labels} value [timestamp]
_SAMPLE = re.compile(
    r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)"
)
_LABEL = re.compile(r'(?P<key>[A-Za-z_][A-Za-z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')
# The API server's own answer when it cannot reach the pod (not the app's status).
_PROXY_ERROR = re.compile(r"error trying to reach service|no endpoints available|dial tcp", re.I)


def check_problem(check: Any) -> str:
    """Why a smoke check definition is invalid ('' when it is fine)."""
    if not isinstance(check, dict):
        return f"not a mapping: {check!r}"
    path = check.get("path")
    if not isinstance(path, str) or not path.startswith("/") or any(c.isspace() for c in path):
        return f"path must start with / and hold no spaces: {path!r}"
    method = str(check.get("method", "GET")).upper()
    if method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        return f"unknown method {method!r}"
    status = check.get("status", 200)
    if not isinstance(status, int) or not 100 <= status <= 599:
        return f"status must be an HTTP status code: {status!r}"
    return ""


def describe_check(check: dict[str, Any]) -> str:
    return f"{str(check.get('method', 'GET')).upper()} {check['path']}"


@dataclass
class Answer:
    status: int
    body: str
    reached: bool = True

    def short_body(self, limit: int = 120) -> str:
        text = " ".join(self.body.split())
        return text if len(text) <= limit else text[: limit - 1] + "…"


def proxy_request(
    api: Any, namespace: str, pod: str, port: int, method: str, path: str,
    body: Any = None, timeout: float = 10,
) -> Answer:  # fmt: skip
    """One request to one pod through /api/v1/namespaces/N/pods/P:PORT/proxy/PATH."""
    # Here, not at the top: the unit tests load this file alone, where ansible.module_utils
    # has no zdk_kube (tests/pipeline/test_smoke_checks.py).
    from ansible.module_utils.zdk_kube import raw_call

    split = urlsplit(path)
    resource = f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy{split.path}"
    query = parse_qsl(split.query, keep_blank_values=True)
    try:
        status, data = raw_call(api, method.upper(), resource, query, body, timeout)
    except Exception as error:
        return Answer(0, f"{type(error).__name__}: {error}", reached=False)
    text = data.decode("utf-8", "replace")
    reached = status < 500 or not (_is_kube_status(text) and _PROXY_ERROR.search(text))
    return Answer(status, text, reached=reached)


def _is_kube_status(text: str) -> bool:
    try:
        return bool(json.loads(text).get("kind") == "Status")
    except (ValueError, AttributeError):
        return False


def request_counts(exposition: str, metric: str) -> tuple[float, float]:
    """(all requests, 5xx requests) from a Prometheus text exposition: every sample of
    `metric` (or `metric`_total), summed over its labels; a `status` or `code` label that
    starts with 5 ("500", "503", "5xx") counts as a server error."""
    names = {metric, metric.removesuffix("_total"), metric.removesuffix("_total") + "_total"}
    total = errors = 0.0
    for line in exposition.splitlines():
        match = _SAMPLE.match(line)
        if not match or match["name"] not in names:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        labels = {m["key"]: m["value"] for m in _LABEL.finditer(match["labels"] or "")}
        total += value
        if (labels.get("status") or labels.get("code") or "").startswith("5"):
            errors += value
    return total, errors


def container_restarts(pod: dict[str, Any]) -> dict[str, int]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return {s.get("name", "?"): int(s.get("restartCount") or 0) for s in statuses}


def last_termination(pod: dict[str, Any]) -> str:
    """'OOMKilled', 'Error, exit 1', … of the most recent container termination."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = ((status.get("lastState") or {}).get("terminated")) or (
            (status.get("state") or {}).get("terminated")
        )
        if terminated:
            reason = terminated.get("reason") or "terminated"
            return f"{reason}, exit {terminated.get('exitCode', '?')}"
    return "restarted"


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def is_leaving(pod: dict[str, Any]) -> bool:
    """Being deleted (scale-down, eviction, a later rollout): not a failure of the pod."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


@dataclass
class PodWatch:
    """What the analysis knows of one pod since it first saw it."""

    name: str
    restarts: dict[str, int]
    was_ready: bool
    smoked: bool = False
    first_counts: tuple[float, float] | None = None
    last_counts: tuple[float, float] | None = None

    def seen(self) -> tuple[float, float]:
        if self.first_counts is None or self.last_counts is None:
            return 0.0, 0.0
        return (
            max(0.0, self.last_counts[0] - self.first_counts[0]),
            max(0.0, self.last_counts[1] - self.first_counts[1]),
        )


def pod_problem(watch: PodWatch, pod: dict[str, Any]) -> str:
    """Why this pod fails the analysis now ('' when it does not): a container restart
    (with the reason: OOMKilled, an exit code), a failed pod, or a readiness flip
    (ready once, not ready now, and not being deleted)."""
    if is_leaving(pod):
        return ""
    now = container_restarts(pod)
    for container, count in now.items():
        if count > watch.restarts.get(container, 0):
            return f"pod {watch.name} restarted ({container}: {last_termination(pod)})"
    if (pod.get("status") or {}).get("phase") == "Failed":
        return f"pod {watch.name} failed ({last_termination(pod)})"
    if watch.was_ready and not is_ready(pod):
        return f"pod {watch.name} became unready"
    return ""


@dataclass
class Tally:
    pods: dict[str, PodWatch] = field(default_factory=dict)

    def totals(self) -> tuple[int, int]:
        requests = errors = 0.0
        for watch in self.pods.values():
            seen, bad = watch.seen()
            requests += seen
            errors += bad
        return int(requests), int(errors)

    def error_problem(self, max_ratio: float, min_requests: int) -> str:
        requests, errors = self.totals()
        if requests >= max(1, min_requests) and errors / requests > max_ratio:
            return (
                f"{errors} of {requests} requests answered 5xx ({errors / requests:.1%},"
                f" over the {max_ratio:.1%} allowed)"
            )
        return ""
