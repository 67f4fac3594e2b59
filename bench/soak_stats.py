"""The soak's bookkeeping, free of any cluster or probe: phases, per-second buckets, latency
histograms, failure classes, the phase table and the verdict (bench/soak.py runs the soak;
tests/soak/ tests this module on its own).

Requests arrive in batches (one probe segment at a time, see bench/soak.py) and are folded
into compact counters at once, so a run of millions of requests keeps only:
- per stream and second: requests, failures, p50 and p99 (exact, from the raw latencies of
  that second, which are dropped once no running probe can add to the second);
- per stream and phase: requests, failures by kind, and a log-binned latency histogram
  (0.5 % wide bins) for p50/p99 over any set of phases;
- the first MAX_FAILURE_ITEMS failed requests, one line each.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

MAX_FAILURE_ITEMS = 2000
BINS_PER_DECADE = 400  # histogram bins: 10 ** (1 / 400) = 0.58 % wide
MIN_LATENCY_MS = 0.001

# Which release a phase rolls; "quiet" phases roll nothing.
ZDK = "zdk"
NAIVE = "naive"
QUIET_KINDS = ("quiet", "settle")
ROLLING_KINDS = {"upgrade": ZDK, "crash": ZDK, "rollback": ZDK, "naive-upgrade": NAIVE}

# zdprobe's outcome of a failed request -> (class, what it means in a rollout).
FAILURE_CLASSES: dict[str, tuple[str, str]] = {
    "connect_refused": (
        "refused",
        "nothing listened: a new connection reached a pod that had stopped listening",
    ),
    "connect_error": ("refused", "the connection could not be opened"),
    "server_disconnected": (
        "closed",
        "the server closed a keep-alive connection while a request went out on it",
    ),
    "reset": ("closed", "the connection was reset (the process or socket went away)"),
    "remote_protocol_error": ("closed", "the connection ended in the middle of an answer"),
    "read_error": ("closed", "reading the answer failed"),
    "write_error": ("closed", "sending the request failed"),
    "connect_timeout": ("timeout", "no connection within the probe's timeout"),
    "read_timeout": ("timeout", "no answer within the probe's timeout"),
    "write_timeout": ("timeout", "the request could not be sent in time"),
    "pool_timeout": ("timeout", "the probe had no free connection in time"),
    "tls_error": ("other", "TLS failed"),
    "other": ("other", "an error the probe does not classify"),
    "502": ("proxy", "bad gateway: the proxy's connection to a pod failed"),
    "503": ("proxy", "service unavailable: no ready pod behind the route or the app draining"),
    "504": ("proxy", "gateway timeout: the pod did not answer the proxy in time"),
    "404": ("routing", "not found: the route (Host) was missing"),
}


def classify(outcome: str) -> str:
    """The class of a failed request's outcome (zdprobe's error kind or HTTP status)."""
    if outcome in FAILURE_CLASSES:
        return FAILURE_CLASSES[outcome][0]
    if outcome.isdigit():
        return "app" if outcome.startswith("5") else "status"
    return "other"


def by_class(outcomes: Counter[str]) -> Counter[str]:
    classes: Counter[str] = Counter()
    for outcome, n in outcomes.items():
        classes[classify(outcome)] += n
    return classes


class ResultLike(Protocol):
    """What the soak reads of one zdprobe Result."""

    @property
    def start(self) -> float: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def ok(self) -> bool: ...
    @property
    def outcome(self) -> str: ...


# --------------------------------------------------------------------------- latency
def nearest_rank(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values (zdprobe's definition)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _bin(ms: float) -> int:
    return math.floor(math.log10(max(ms, MIN_LATENCY_MS)) * BINS_PER_DECADE)


def _bin_value(index: int) -> float:
    """The geometric middle of a bin."""
    return float(10 ** ((index + 0.5) / BINS_PER_DECADE))


@dataclass
class Histogram:
    """Latencies in log bins: mergeable, small, percentiles within 0.3 %."""

    bins: Counter[int] = field(default_factory=Counter)
    count: int = 0

    def add(self, ms: float) -> None:
        self.bins[_bin(ms)] += 1
        self.count += 1

    def merge(self, other: Histogram) -> None:
        self.bins.update(other.bins)
        self.count += other.count

    def percentile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = max(1, math.ceil(q / 100.0 * self.count))
        seen = 0
        for index in sorted(self.bins):
            seen += self.bins[index]
            if seen >= rank:
                return round(_bin_value(index), 2)
        return None  # pragma: no cover - the counts always add up


def merged(histograms: Iterable[Histogram]) -> Histogram:
    out = Histogram()
    for h in histograms:
        out.merge(h)
    return out


# --------------------------------------------------------------------------- phases
@dataclass
class Phase:
    """A stretch of the soak. Times are epoch seconds; `end` is None while it runs."""

    index: int
    cycle: int  # 0: before the first cycle or after the last
    kind: str  # quiet | upgrade | crash | rollback | naive-upgrade | settle
    label: str
    start: float
    end: float | None = None
    rc: int | None = None
    ok: bool | None = None  # the step did what it must (None: nothing to check)
    detail: str = ""

    @property
    def rolls(self) -> str | None:
        """Which release this phase rolls (ZDK, NAIVE or None)."""
        return ROLLING_KINDS.get(self.kind)


class Timeline:
    """Contiguous phases: each begins where the previous one ends."""

    def __init__(self) -> None:
        self.phases: list[Phase] = []
        self._starts: list[float] = []

    def begin(self, kind: str, label: str, cycle: int, at: float) -> Phase:
        if self.phases and self.phases[-1].end is None:
            self.phases[-1].end = at
        phase = Phase(len(self.phases), cycle, kind, label, at)
        self.phases.append(phase)
        self._starts.append(at)
        return phase

    def close(self, at: float) -> None:
        if self.phases and self.phases[-1].end is None:
            self.phases[-1].end = at

    def index_at(self, epoch: float) -> int:
        """The phase a request that started at `epoch` belongs to (the first phase for
        anything earlier, the last for anything later)."""
        return max(0, bisect.bisect_right(self._starts, epoch) - 1)


# --------------------------------------------------------------------------- streams
@dataclass
class PhaseCell:
    sent: int = 0
    failed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)


@dataclass
class _OpenSecond:
    sent: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)


class StreamStats:
    """Everything kept about one probe stream (all its segments)."""

    def __init__(self, name: str, release: str) -> None:
        self.name = name
        self.release = release
        self.sent = 0
        self.failed = 0
        self.unsent = 0
        self.outcomes: Counter[str] = Counter()
        self.phases: dict[int, PhaseCell] = {}
        self._open: dict[int, _OpenSecond] = {}
        # second -> (sent, failed, p50 ms, p99 ms), once no probe can add to it
        self.seconds: dict[int, tuple[int, int, float | None, float | None]] = {}

    def add(self, second: int, phase: int, latency_ms: float, ok: bool, outcome: str) -> None:
        self.sent += 1
        cell = self.phases.get(phase)
        if cell is None:
            cell = self.phases[phase] = PhaseCell()
        cell.sent += 1
        bucket = self._open.get(second)
        if bucket is None:
            bucket = self._open[second] = _OpenSecond()
        bucket.sent += 1
        if ok:
            cell.latency.add(latency_ms)
            bucket.latencies.append(latency_ms)
        else:
            self.failed += 1
            self.outcomes[outcome] += 1
            cell.failed += 1
            cell.outcomes[outcome] += 1
            bucket.failed += 1

    def finalize(self, before: int | None = None) -> None:
        """Reduce every open second earlier than `before` (all of them: None) to its row."""
        for second in sorted(self._open):
            if before is not None and second >= before:
                break
            bucket = self._open.pop(second)
            ordered = sorted(bucket.latencies)
            p50, p99 = nearest_rank(ordered, 50), nearest_rank(ordered, 99)
            self.seconds[second] = (
                bucket.sent,
                bucket.failed,
                None if p50 is None else round(p50, 2),
                None if p99 is None else round(p99, 2),
            )

    def latency(self, phases: Iterable[int]) -> dict[str, Any]:
        h = merged(self.phases[i].latency for i in phases if i in self.phases)
        return {"count": h.count, "p50_ms": h.percentile(50), "p99_ms": h.percentile(99)}


@dataclass(frozen=True)
class FailureItem:
    stream: str
    at_s: float  # since the load started
    phase: int
    outcome: str
    failure_class: str
    latency_ms: float


class Accounting:
    """Folds probe segments into the streams' counters, attributed to phases and seconds.
    `t0` is the epoch second the load started: every time in the output is relative to it."""

    def __init__(self, t0: float, streams: Iterable[tuple[str, str]]) -> None:
        self.t0 = t0
        self.timeline = Timeline()
        self.streams = {name: StreamStats(name, release) for name, release in streams}
        self.failures: list[FailureItem] = []
        self.failures_dropped = 0

    def fold(
        self, stream: str, started_at: float, results: Iterable[ResultLike], unsent: int = 0
    ) -> None:
        """Add one finished probe segment (zdprobe Report.started_at, .results, .unsent)."""
        stats = self.streams[stream]
        stats.unsent += unsent
        for r in results:
            epoch = started_at + r.start
            second = max(0, int(epoch - self.t0))
            phase = self.timeline.index_at(epoch)
            ok = r.ok
            outcome = "ok" if ok else r.outcome
            stats.add(second, phase, r.latency_ms, ok, outcome)
            if not ok:
                if len(self.failures) < MAX_FAILURE_ITEMS:
                    self.failures.append(
                        FailureItem(
                            stream,
                            round(epoch - self.t0, 3),
                            phase,
                            outcome,
                            classify(outcome),
                            round(r.latency_ms, 2),
                        )
                    )
                else:
                    self.failures_dropped += 1

    def finalize(self, before_epoch: float | None = None) -> None:
        """Close the seconds no running probe can add to (all: None)."""
        before = None if before_epoch is None else math.floor(before_epoch - self.t0)
        for stats in self.streams.values():
            stats.finalize(before)

    # ----------------------------------------------------------------- reading
    def totals(self, release: str | None = None) -> tuple[int, int]:
        """(sent, failed) over every stream, or over one release's streams."""
        chosen = [s for s in self.streams.values() if release is None or s.release == release]
        return sum(s.sent for s in chosen), sum(s.failed for s in chosen)

    def quiet_phases(self) -> list[int]:
        return [p.index for p in self.timeline.phases if p.kind in QUIET_KINDS]

    def rolling_phases(self, release: str) -> list[int]:
        return [p.index for p in self.timeline.phases if p.rolls == release]

    def stream_summary(self) -> dict[str, Any]:
        quiet = self.quiet_phases()
        out: dict[str, Any] = {}
        for name, s in self.streams.items():
            every = list(s.phases)
            out[name] = {
                "release": s.release,
                "sent": s.sent,
                "ok": s.sent - s.failed,
                "failed": s.failed,
                "unsent": s.unsent,
                "failed_by_outcome": dict(s.outcomes.most_common()),
                "failed_by_class": dict(by_class(s.outcomes).most_common()),
                "latency_all": s.latency(every),
                "latency_quiet": s.latency(quiet),
                "latency_rolling": s.latency(self.rolling_phases(s.release)),
            }
        return out

    def phase_table(self) -> list[dict[str, Any]]:
        rows = []
        for p in self.timeline.phases:
            row = asdict(p)
            row["start_s"] = round(p.start - self.t0, 2)
            row["end_s"] = None if p.end is None else round(p.end - self.t0, 2)
            row["duration_s"] = None if p.end is None else round(p.end - p.start, 2)
            del row["start"], row["end"]
            row["rolls"] = p.rolls
            streams = {}
            for name, s in self.streams.items():
                cell = s.phases.get(p.index, PhaseCell())
                streams[name] = {
                    "sent": cell.sent,
                    "failed": cell.failed,
                    "failed_by_outcome": dict(cell.outcomes.most_common()),
                    "p50_ms": cell.latency.percentile(50),
                    "p99_ms": cell.latency.percentile(99),
                }
            row["streams"] = streams
            rows.append(row)
        return rows

    def seconds_table(self) -> dict[str, Any]:
        """Per-second columns for each stream (the plot's data): index i is second i of the
        load; a second without requests is 0 / null."""
        last = max((max(s.seconds, default=-1) for s in self.streams.values()), default=-1)
        out: dict[str, Any] = {"t0": self.t0, "length": last + 1, "streams": {}}
        for name, s in self.streams.items():
            cols: dict[str, list[Any]] = {"sent": [], "failed": [], "p50_ms": [], "p99_ms": []}
            for second in range(last + 1):
                sent, failed, p50, p99 = s.seconds.get(second, (0, 0, None, None))
                cols["sent"].append(sent)
                cols["failed"].append(failed)
                cols["p50_ms"].append(p50)
                cols["p99_ms"].append(p99)
            out["streams"][name] = cols
        return out


# --------------------------------------------------------------------------- verdict
def verdict(
    streams: dict[str, dict[str, Any]],
    *,
    target_requests: int,
    step_problems: Sequence[str],
    control_rollouts: int,
) -> list[str]:
    """Why the soak fails; an empty list is a pass. `streams` is stream_summary()."""
    problems = list(step_problems)
    for name, s in streams.items():
        if s["release"] == ZDK and s["failed"]:
            kinds = ", ".join(f"{k} {n}" for k, n in s["failed_by_outcome"].items())
            problems.append(f"{name}: {s['failed']}/{s['sent']} requests failed ({kinds})")
    total = sum(s["sent"] for s in streams.values())
    if total < target_requests:
        problems.append(f"{total} requests sent in all, short of {target_requests}")
    naive = [s for s in streams.values() if s["release"] == NAIVE]
    if naive and control_rollouts > 0 and sum(s["failed"] for s in naive) == 0:
        problems.append("the control did not fail: the soak cannot tell")
    if not naive or control_rollouts == 0:
        problems.append("the control was not rolled under load: the soak cannot tell")
    return problems


# --------------------------------------------------------------------------- output
def fmt(v: Any) -> str:
    return "-" if v is None else str(v)


def phase_lines(rows: Sequence[dict[str, Any]], streams: dict[str, str]) -> list[str]:
    """The phase table as text: per phase, both releases' requests/failures and the
    zero-downtime streams' worst p99. `streams` maps stream name -> release."""
    head = (
        f"{'#':>3} {'cycle':>5} {'phase':<26} {'rc':>3} {'ok':>3} {'secs':>7} "
        f"{'zdk sent':>9} {'failed':>6} {'naive sent':>10} {'failed':>6} {'zdk p99 max':>11}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        by = row["streams"]
        zdk = [by[n] for n, rel in streams.items() if rel == ZDK]
        naive = [by[n] for n, rel in streams.items() if rel == NAIVE]
        p99s = [c["p99_ms"] for c in zdk if c["p99_ms"] is not None]
        ok = {True: "yes", False: "NO", None: ""}[row["ok"]]
        lines.append(
            f"{row['index']:>3} {row['cycle']:>5} {row['label'][:26]:<26} {fmt(row['rc']):>3} "
            f"{ok:>3} {fmt(row['duration_s']):>7} "
            f"{sum(c['sent'] for c in zdk):>9} {sum(c['failed'] for c in zdk):>6} "
            f"{sum(c['sent'] for c in naive):>10} {sum(c['failed'] for c in naive):>6} "
            f"{fmt(max(p99s) if p99s else None):>11}"
        )
    return lines


def stream_lines(streams: dict[str, dict[str, Any]]) -> list[str]:
    head = (
        f"{'stream':<28} {'sent':>9} {'failed':>7} {'unsent':>6} "
        f"{'quiet p50/p99 ms':>18} {'rolling p50/p99 ms':>20}"
    )
    lines = [head, "-" * len(head)]
    for name, s in streams.items():
        q, r = s["latency_quiet"], s["latency_rolling"]
        lines.append(
            f"{name:<28} {s['sent']:>9} {s['failed']:>7} {s['unsent']:>6} "
            f"{fmt(q['p50_ms']) + '/' + fmt(q['p99_ms']):>18} "
            f"{fmt(r['p50_ms']) + '/' + fmt(r['p99_ms']):>20}"
        )
    return lines


def dumps(value: Any, indent: int = 0) -> str:
    """JSON with nested objects indented but lists of plain values on one line, so the
    per-second columns stay compact."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list | tuple):
        if all(not isinstance(v, dict | list | tuple) for v in value):
            return json.dumps(list(value), separators=(",", ":"))
        items = [f"{inner}{dumps(v, indent + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value)
