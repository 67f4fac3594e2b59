"""Unit tests of the rollout benchmark's report (bench/rollout.py): where deploy.yml's time
went, by kind of task. No cluster: the module is loaded from its file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load() -> ModuleType:
    """bench/rollout.py, whose `from bench.local import ...` must find this bench/ and not
    app/bench (also on the path): the two are swapped in for the import only."""
    saved = {name: sys.modules.pop(name, None) for name in ("bench", "bench.local")}
    package = importlib.util.spec_from_file_location(
        "bench", BENCH / "__init__.py", submodule_search_locations=[str(BENCH)]
    )
    spec = importlib.util.spec_from_file_location("rollout_report_test", BENCH / "rollout.py")
    assert package is not None
    assert package.loader is not None
    assert spec is not None
    assert spec.loader is not None
    try:
        sys.modules["bench"] = importlib.util.module_from_spec(package)
        package.loader.exec_module(sys.modules["bench"])
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    finally:
        for name, previous in saved.items():
            sys.modules.pop(name, None)
            if previous is not None:
                sys.modules[name] = previous
    return module


rollout = load()


def deploy(seconds: float, task_time: dict[str, Any]) -> Any:
    latency = {"p50_ms": 1.0, "p99_ms": 2.0}
    return rollout.Rollout(
        replicas=2, round=1, method=rollout.DEPLOY, greeting="g", rc=0, wall_s=seconds,
        sent=10, failed=0, errors={}, quiet=latency, during=latency, rolling=latency,
        rolling_window_s=None, rolled=True, phases={"preflight": 1.0}, tasks=5,
        task_time=task_time,
    )  # fmt: skip


def test_the_report_says_where_the_time_went_by_kind_of_task() -> None:
    runs = [
        deploy(20.0, {"module": {"count": 40, "seconds": 12.0},
                      "controller": {"count": 90, "seconds": 4.0},
                      "skipped": {"count": 50, "seconds": 2.0}}),
        deploy(22.0, {"module": {"count": 42, "seconds": 14.0},
                      "controller": {"count": 90, "seconds": 5.0},
                      "skipped": {"count": 50, "seconds": 1.0}}),
    ]  # fmt: skip
    sweep = rollout.by_replicas(runs)
    assert sweep["per"]["2"]["task_time_median"] == {
        "module": {"count": 41, "seconds": 13.0},
        "controller": {"count": 90, "seconds": 4.5},
        "skipped": {"count": 50, "seconds": 1.5},
    }
    text = rollout.replicas_table(sweep)
    assert "13.0s in   41 module calls" in text
    assert "4.5s in   90 controller-only tasks" in text
    assert "1.5s in   50 skipped tasks" in text


def test_a_run_without_the_task_times_reports_none() -> None:
    sweep = rollout.by_replicas([deploy(20.0, {})])
    assert sweep["per"]["2"]["task_time_median"] == {}
    assert "by kind of task" not in rollout.replicas_table(sweep)
