"""Unit tests of the soak's bookkeeping (bench/soak_stats.py) and plot: no cluster, no
network. The modules are loaded from their files (`bench` is also app/bench on the path)."""

from __future__ import annotations

import importlib.util
import json
import math
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from zdprobe import Result

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"soak_test_{name}", BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


stats = load("soak_stats")
soak_plot = load("soak_plot")

T0 = 1_000_000.0


def result(
    start: float, latency_ms: float, status: int | None = 200, error: str | None = None
) -> Result:
    """One request as the probe records it (zdprobe's own Result)."""
    return Result(0, "/health", start, start, latency_ms, status=status, error=error)


def accounting() -> Any:
    acct = stats.Accounting(
        T0, [("zdk nodeport keepalive", "zdk"), ("naive nodeport keepalive", "naive")]
    )
    acct.timeline.begin("quiet", "quiet", 1, T0)
    acct.timeline.begin("upgrade", "upgrade 0.0.1->0.0.2", 1, T0 + 10)
    acct.timeline.begin("naive-upgrade", "control helm upgrade", 1, T0 + 20)
    acct.timeline.begin("settle", "settle", 0, T0 + 30)
    acct.timeline.close(T0 + 40)
    return acct


def test_a_request_belongs_to_the_phase_it_started_in() -> None:
    timeline = accounting().timeline
    assert [timeline.index_at(T0 + s) for s in (-5, 0, 9.999, 10, 25, 30, 99)] == [
        0, 0, 0, 1, 2, 3, 3,
    ]  # fmt: skip
    assert [p.rolls for p in timeline.phases] == [None, "zdk", "naive", None]
    assert timeline.phases[0].end == T0 + 10
    assert timeline.phases[-1].end == T0 + 40


def test_segments_fold_into_exact_seconds_and_phases() -> None:
    acct = accounting()
    name = "zdk nodeport keepalive"
    # Two probe segments that overlap in second 12: the second is only reduced once the
    # later segment is folded too, so its p50/p99 are those of all its requests.
    first = [result(s / 10, 1.0 + s % 10) for s in range(0, 125)]  # seconds 0..12.4
    second = [result(s / 10, 20.0) for s in range(0, 80)]  # from 12.0 on
    first.append(result(11.5, 3.0, status=None, error="connect_refused"))
    acct.fold(name, T0, first, unsent=2)
    acct.finalize(T0 + 12.0)  # the next segment started at 12.0
    assert 12 not in acct.streams[name].seconds
    assert 11 in acct.streams[name].seconds
    acct.fold(name, T0 + 12.0, second)
    acct.finalize()

    s = acct.streams[name]
    assert (s.sent, s.failed, s.unsent) == (206, 1, 2)
    assert s.seconds[0] == (10, 0, 5.0, 10.0)
    sent, failed, p50, p99 = s.seconds[12]
    assert (sent, failed) == (15, 0)
    assert (p50, p99) == (20.0, 20.0)
    assert s.seconds[11][:2] == (11, 1)
    # Phase attribution: 0..9.9 quiet, 10..19.9 upgrade, 20.. control's rollout.
    assert s.phases[0].sent == 100
    assert s.phases[1].failed == 1
    assert s.phases[1].outcomes == {"connect_refused": 1}
    [item] = acct.failures
    assert (item.phase, item.outcome, item.failure_class, item.at_s) == (
        1, "connect_refused", "refused", 11.5,
    )  # fmt: skip
    assert acct.totals() == (206, 1)
    assert acct.totals("naive") == (0, 0)


def test_the_histogram_is_within_a_percent_of_the_exact_percentile() -> None:
    rng = random.Random(7)  # noqa: S311 (test data, not secrets)
    values = [rng.lognormvariate(1.0, 0.8) for _ in range(20_000)]
    h = stats.Histogram()
    for v in values:
        h.add(v)
    ordered = sorted(values)
    for q in (50, 90, 99, 99.9):
        exact = stats.nearest_rank(ordered, q)
        assert math.isclose(h.percentile(q), exact, rel_tol=0.01), q
    half = stats.Histogram()
    for v in values[:10_000]:
        half.add(v)
    rest = stats.Histogram()
    for v in values[10_000:]:
        rest.add(v)
    assert stats.merged([half, rest]).percentile(99) == h.percentile(99)
    assert stats.Histogram().percentile(50) is None


def test_quiet_and_rolling_latency_per_stream_and_the_phase_table() -> None:
    acct = accounting()
    name = "zdk nodeport keepalive"
    acct.fold(name, T0, [result(s / 10, 2.0 if s < 100 else 8.0) for s in range(200)])
    acct.fold(name, T0, [result(35.0, 2.0)])
    acct.fold("naive nodeport keepalive", T0, [result(21.0, 1.0, status=502)])
    acct.finalize()
    summary = acct.stream_summary()[name]
    assert summary["latency_quiet"]["count"] == 101
    assert summary["latency_quiet"]["p50_ms"] == pytest.approx(2.0, rel=0.01)
    assert summary["latency_rolling"]["p50_ms"] == pytest.approx(8.0, rel=0.01)
    naive = acct.stream_summary()["naive nodeport keepalive"]
    assert naive["failed_by_outcome"] == {"502": 1}
    assert naive["failed_by_class"] == {"proxy": 1}

    rows = acct.phase_table()
    assert [r["duration_s"] for r in rows] == [10.0, 10.0, 10.0, 10.0]
    assert rows[1]["streams"][name]["sent"] == 100
    assert rows[1]["rolls"] == "zdk"
    lines = stats.phase_lines(rows, {name: "zdk", "naive nodeport keepalive": "naive"})
    assert len(lines) == 2 + len(rows)
    assert "control helm upgrade" in lines[4]

    cols = acct.seconds_table()
    assert cols["length"] == 36
    assert cols["streams"][name]["sent"][:2] == [10, 10]
    assert cols["streams"]["naive nodeport keepalive"]["failed"][21] == 1


def stream(release: str, sent: int, failed: int = 0) -> dict[str, Any]:
    return {
        "release": release,
        "sent": sent,
        "failed": failed,
        "failed_by_outcome": {"server_disconnected": failed} if failed else {},
    }


def test_the_verdict() -> None:
    good = {"zdk a": stream("zdk", 900), "naive a": stream("naive", 100, 3)}
    args: dict[str, Any] = {"target_requests": 1000, "step_problems": [], "control_rollouts": 2}
    assert stats.verdict(good, **args) == []
    bad = {**good, "zdk b": stream("zdk", 100, 1)}
    assert stats.verdict(bad, **args) == ["zdk b: 1/100 requests failed (server_disconnected 1)"]
    assert stats.verdict(good, **{**args, "target_requests": 1001}) == [
        "1000 requests sent in all, short of 1001"
    ]
    blind = {**good, "naive a": stream("naive", 100)}
    assert stats.verdict(blind, **args) == ["the control did not fail: the soak cannot tell"]
    assert stats.verdict(good, **{**args, "control_rollouts": 0}) == [
        "the control was not rolled under load: the soak cannot tell"
    ]
    assert stats.verdict(good, **{**args, "step_problems": ["cycle 1 crash: x"]}) == [
        "cycle 1 crash: x"
    ]


@pytest.mark.parametrize(
    ("outcome", "cls"),
    [("connect_refused", "refused"), ("server_disconnected", "closed"), ("502", "proxy"),
     ("500", "app"), ("429", "status"), ("read_timeout", "timeout"), ("weird", "other")],
)  # fmt: skip
def test_failure_classes(outcome: str, cls: str) -> None:
    assert stats.classify(outcome) == cls


def test_json_keeps_value_lists_on_one_line() -> None:
    doc = {"a": {"b": [1, None, 2.5], "c": [{"d": "x"}], "e": {}}, "f": []}
    text = stats.dumps(doc)
    assert json.loads(text) == doc
    assert '"b": [1,null,2.5]' in text
    assert '"f": []' in text


def test_plot_writes_a_png(tmp_path: Path) -> None:
    acct = accounting()
    acct.fold("zdk nodeport keepalive", T0, [result(s / 10, 2.0) for s in range(400)])
    acct.fold("naive nodeport keepalive", T0, [result(21.0, 1.0, status=None, error="reset")])
    acct.finalize()
    doc = {
        "seconds": acct.seconds_table(),
        "phases": acct.phase_table(),
        "streams": acct.stream_summary(),
        "settings": {"cycles_done": 1},
        "totals": {"sent": 401, "zdk_sent": 400, "zdk_failed": 0, "naive_sent": 1,
                   "naive_failed": 1},
        "passed": True,
    }  # fmt: skip
    soak_plot.plot(doc, tmp_path / "soak.png")
    assert (tmp_path / "soak.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
