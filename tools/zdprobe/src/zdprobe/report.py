"""Per-request results and the report built from them (JSON, verdict, exit status)."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zdprobe.config import ProbeConfig
from zdprobe.versions import Transition

MAX_FAILURE_ITEMS = 1000
MAX_PODS_PER_VERSION = 50


@dataclass(slots=True)
class Result:
    """One request. Times are seconds since the probe started (monotonic clock)."""

    seq: int
    path: str
    scheduled: float
    start: float
    latency_ms: float
    status: int | None = None
    error: str | None = None
    version: str | None = None
    revision: str | None = None
    pod: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def outcome(self) -> str:
        """The HTTP status as text, or the error kind."""
        return self.error if self.error is not None else str(self.status)


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted sequence; None when it is empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(values: Iterable[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    count = len(ordered)
    return {
        "count": count,
        "p50": _round(percentile(ordered, 50)),
        "p95": _round(percentile(ordered, 95)),
        "p99": _round(percentile(ordered, 99)),
        "max": _round(ordered[-1] if ordered else None),
        "mean": _round(sum(ordered) / count if count else None),
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds")


@dataclass
class Report:
    """Everything one run observed. ``summary()`` is the JSON report."""

    config: ProbeConfig
    results: list[Result]
    started_at: float
    elapsed_s: float
    stop_reason: str
    unsent: int = 0
    transitions: list[Transition] = field(default_factory=list)
    flips: int = 0

    @property
    def sent(self) -> int:
        return len(self.results)

    @property
    def ok(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def failed(self) -> int:
        return self.sent - self.ok

    @property
    def passed(self) -> bool:
        """True when at least one request was sent and every request got a 2xx answer."""
        return self.sent > 0 and self.failed == 0

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def verdict(self) -> str:
        if self.sent == 0:
            return "FAIL: no request was sent"
        if self.failed == 0:
            return f"PASS: {self.ok}/{self.sent} requests succeeded"
        kinds = ", ".join(f"{k} {n}" for k, n in self.outcomes_failed().most_common())
        return f"FAIL: {self.failed}/{self.sent} requests failed ({kinds})"

    def outcomes_failed(self) -> Counter[str]:
        return Counter(r.outcome for r in self.results if not r.ok)

    def at(self, offset_s: float) -> str:
        """Wall-clock ISO time of an offset since the start."""
        return _iso(self.started_at + offset_s)

    def versions_in_order(self) -> list[str]:
        """Every version seen, ordered by first appearance."""
        first: dict[str, float] = {}
        for r in self.results:
            if r.version is not None and (r.version not in first or r.start < first[r.version]):
                first[r.version] = r.start
        return sorted(first, key=first.__getitem__)

    def seconds(self) -> list[dict[str, Any]]:
        """Per-second buckets by request start time."""
        n = max(1, math.ceil(self.elapsed_s))
        if self.results:
            n = max(n, int(max(r.start for r in self.results)) + 1)
        buckets: list[list[Result]] = [[] for _ in range(n)]
        for r in self.results:
            buckets[min(n - 1, max(0, int(r.start)))].append(r)
        rows: list[dict[str, Any]] = []
        for second, items in enumerate(buckets):
            lat = sorted(r.latency_ms for r in items if r.ok)
            rows.append(
                {
                    "second": second,
                    "sent": len(items),
                    "ok": sum(1 for r in items if r.ok),
                    "failed": sum(1 for r in items if not r.ok),
                    "p50_ms": _round(percentile(lat, 50)),
                    "p99_ms": _round(percentile(lat, 99)),
                    "max_ms": _round(lat[-1] if lat else None),
                    "versions": dict(Counter(r.version for r in items if r.version is not None)),
                }
            )
        return rows

    def version_timeline(self) -> list[dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for r in sorted(self.results, key=lambda item: item.start):
            if r.version is None:
                continue
            row = rows.get(r.version)
            if row is None:
                row = rows[r.version] = {
                    "version": r.version,
                    "first_seen_s": r.start,
                    "last_seen_s": r.start,
                    "count": 0,
                    "revisions": [],
                    "pods": [],
                }
            row["last_seen_s"] = r.start
            row["count"] += 1
            if r.revision is not None and r.revision not in row["revisions"]:
                row["revisions"].append(r.revision)
            pods = row["pods"]
            if r.pod is not None and r.pod not in pods and len(pods) < MAX_PODS_PER_VERSION:
                pods.append(r.pod)
        for row in rows.values():
            row["first_seen_at"] = self.at(row["first_seen_s"])
            row["last_seen_at"] = self.at(row["last_seen_s"])
            row["first_seen_s"] = _round(row["first_seen_s"])
            row["last_seen_s"] = _round(row["last_seen_s"])
        return list(rows.values())

    def summary(self) -> dict[str, Any]:
        from zdprobe import __version__

        cfg = self.config
        failures = sorted((r for r in self.results if not r.ok), key=lambda r: r.start)
        by_path: dict[str, dict[str, int]] = {}
        for r in self.results:
            row = by_path.setdefault(r.path, {"sent": 0, "ok": 0, "failed": 0})
            row["sent"] += 1
            row["ok" if r.ok else "failed"] += 1
        lags = sorted(max(0.0, (r.start - r.scheduled) * 1000.0) for r in self.results)
        return {
            "tool": {"name": "zdprobe", "version": __version__},
            "target": cfg.url,
            "path": cfg.path,
            "health_path": cfg.health_path,
            "mode": cfg.mode,
            "rate": cfg.rate,
            "health_rate": cfg.health_rate if cfg.health_path else None,
            "concurrency": cfg.concurrency,
            "timeout_s": cfg.timeout,
            "duration_limit_s": cfg.duration,
            "max_requests": cfg.max_requests,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.started_at + self.elapsed_s),
            "elapsed_s": _round(self.elapsed_s),
            "stop_reason": self.stop_reason,
            "passed": self.passed,
            "verdict": self.verdict,
            "counts": {
                "sent": self.sent,
                "ok": self.ok,
                "failed": self.failed,
                "unsent": self.unsent,
            },
            "by_path": by_path,
            "status": {
                str(k): v
                for k, v in sorted(
                    Counter(r.status for r in self.results if r.status is not None).items()
                )
            },
            "errors": dict(
                Counter(r.error for r in self.results if r.error is not None).most_common()
            ),
            "latency_ms": {
                "ok": latency_summary(r.latency_ms for r in self.results if r.ok),
                "all": latency_summary(r.latency_ms for r in self.results),
            },
            "scheduling": {
                "lag_ms_p99": _round(percentile(lags, 99)),
                "lag_ms_max": _round(lags[-1] if lags else None),
                "unsent": self.unsent,
            },
            "versions": {
                "timeline": self.version_timeline(),
                "transitions": [
                    {"at_s": _round(t.at), "at": self.at(t.at), "from": t.from_, "to": t.to}
                    for t in self.transitions
                ],
                "flips": self.flips,
                "unversioned": sum(1 for r in self.results if r.version is None),
            },
            "failures": {
                "count": len(failures),
                "first_s": _round(failures[0].start) if failures else None,
                "last_s": _round(failures[-1].start) if failures else None,
                "truncated": len(failures) > MAX_FAILURE_ITEMS,
                "items": [
                    {
                        "at_s": _round(r.start),
                        "at": self.at(r.start),
                        "path": r.path,
                        "status": r.status,
                        "error": r.error,
                        "latency_ms": _round(r.latency_ms),
                    }
                    for r in failures[:MAX_FAILURE_ITEMS]
                ],
            },
            "seconds": self.seconds(),
        }

    def to_json(self) -> str:
        return json.dumps(self.summary(), indent=2) + "\n"

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    def text_summary(self) -> list[str]:
        """A few human lines for the end of a run."""
        lat = latency_summary(r.latency_ms for r in self.results if r.ok)
        lines = [
            f"zdprobe {self.config.url} mode={self.config.mode}: {self.verdict}",
            f"  elapsed {self.elapsed_s:.1f}s (stopped by {self.stop_reason}), "
            f"latency ok p50 {_ms(lat['p50'])} p99 {_ms(lat['p99'])} max {_ms(lat['max'])}",
        ]
        if self.unsent:
            lines.append(f"  {self.unsent} scheduled requests not sent: the probe fell behind")
        versions = self.versions_in_order()
        if versions:
            lines.append(f"  versions served: {' -> '.join(versions)}")
        return lines


def _ms(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"
