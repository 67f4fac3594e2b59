"""What does deploy.yml cost over a bare `helm upgrade --wait`? Both roll the same release
the same way (a new greeting, same image), alternating, each under the zero-downtime probe.

    python -m bench.rollout [--rounds 3] [--replicas 2,10,20] [--budget 1800] [--stock-ansible] \
        [--json reports/bench-rollout.json] [--plot reports/bench-rollout.png]

deploy.yml's phases (preflight, lock, image, ...) are timed by its output callback
(ZDK_PHASES_JSON): the table says where the time over helm goes. With several replica
counts, each gets its own set-up and rounds, and the seconds each added pod costs are
the slope of the median rollout time over the replica count. --stock-ansible adds a third
method in the same rounds: deploy.yml on Ansible's own `linear` strategy
(ANSIBLE_STRATEGY=linear) instead of the kit's Mitogen runner (plugins/strategy).

Runs in its own namespace/release `fastapi-bench` on NodePort 30081 (never `fastapi-app`),
and removes them at the end. Needs the local cluster (`make cluster-up`). Only talks to
127.0.0.1 and to the cluster's API server. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import calendar
import itertools
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from zdprobe import ProbeConfig, ProbeInBackground, Report, run

from bench.local import BIN, REPO, TOOLS, deployer_kubeconfig, make_deployer, remove_deployer, sh

NAMESPACE = "fastapi-bench"
RELEASE = "fastapi-bench"
NODE_PORT = 30081
URL = f"http://127.0.0.1:{NODE_PORT}"
SOURCE_NAMESPACE = "fastapi-app"  # only read: the database Secret is copied from there
DB_SECRET = "fastapi-app-database"  # noqa: S105 (a Secret's name, not a value)
CONTEXT = "fastapi-zdk-local"
SELECTOR = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component!=migrations"
RATE = 20.0
TAIL_S = 3.0  # keep probing after the command: the last old pod drains under traffic
COMMAND_TIMEOUT_S = 600
VERIFIED = re.compile(r"rollout verified in ([0-9.]+)s")
DEPLOY = "deploy.yml"
HELM = "helm --wait"
LINEAR = "deploy.yml linear"  # deploy.yml with ANSIBLE_STRATEGY=linear (--stock-ansible)
METHODS = (DEPLOY, HELM, LINEAR)
COLORS = {DEPLOY: "tab:blue", HELM: "tab:orange", LINEAR: "tab:green"}

if NAMESPACE == SOURCE_NAMESPACE:  # pragma: no cover - a guard against edits
    raise SystemExit("the benchmark must never run in the app's namespace")


def kubectl(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return sh([str(TOOLS / "kubectl"), "--context", CONTEXT, *args], **kw)


def helm(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return sh([str(TOOLS / "helm"), "--kube-context", CONTEXT, *args], **kw)


# ------------------------------------------------------------------ set-up, clean-up
def prepare_namespace(database: str) -> None:
    # A namespace still terminating (an earlier run's clean-up, a manual delete) refuses
    # every new object: wait until it is gone.
    kubectl("wait", "--for=delete", f"namespace/{NAMESPACE}", "--timeout=100s", check=False)
    kubectl("create", "namespace", NAMESPACE, check=False)
    make_deployer(NAMESPACE)
    if database != "copy":
        return
    # Copy the database Secret by value without ever printing it.
    src = kubectl("get", "secret", DB_SECRET, "-n", SOURCE_NAMESPACE, "-o", "json", check=False)
    if src.returncode != 0:
        raise RuntimeError(f"Secret {SOURCE_NAMESPACE}/{DB_SECRET} not found (make cluster-up)")
    secret = json.loads(src.stdout)
    copy = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": DB_SECRET, "namespace": NAMESPACE},
        "type": secret.get("type", "Opaque"),
        "data": secret["data"],
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(copy))


def clean_up() -> None:
    print(f"clean-up: helm uninstall {RELEASE}, delete namespace {NAMESPACE}", flush=True)
    helm(
        "uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "5m", check=False, timeout=360
    )
    kubectl(
        "delete", "namespace", NAMESPACE, "--wait=true", "--timeout=180s", check=False, timeout=240
    )
    remove_deployer(NAMESPACE)


# ------------------------------------------------------------------ the two ways to roll
def deploy_argv(version: str, greeting: str, database: str, replicas: int) -> list[str]:
    values: dict[str, Any] = {
        "service": {"nodePort": NODE_PORT},
        "app": {"greeting": greeting},
        # inventory/local's Ingress host (fastapi-app.local) stays the user's release's.
        "ingress": {"enabled": False},
    }
    if database == "none":
        # Without a database the sample's /items cannot answer: smoke-check /endpoint only.
        values["smoke"] = {"checks": [{"method": "GET", "path": "/endpoint", "status": 200}]}
    # The analysis window is a chosen wait after the rollout (30 s by default), not a cost
    # of rolling: off here, so that both methods are timed to the same point.
    extra = {
        "zdk_extra_values": values,
        "zdk_analysis_seconds": 0,
        "zdk_kubeconfig": str(deployer_kubeconfig(NAMESPACE)),
    }
    argv = [
        str(BIN / "ansible-playbook"),
        "deploy.yml",
        "-e",
        f"version={version}",
        "-e",
        f"zdk_namespace={NAMESPACE}",
        "-e",
        f"zdk_release={RELEASE}",
        "-e",
        f"zdk_replicas={replicas}",
        "-e",
        json.dumps(extra),
    ]
    if database == "none":
        argv += ["-e", "zdk_database_secret=", "-e", "zdk_migrations=false"]
    return argv


PHASES: dict[str, Any] = {}  # the last deploy.yml run's phase report (callback zdk)


def run_deploy(
    version: str, greeting: str, database: str, replicas: int, stock: bool = False
) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile("r", suffix=".json", prefix="bench-phases-") as f:
        env = {"ZDK_PHASES_JSON": f.name} | ({"ANSIBLE_STRATEGY": "linear"} if stock else {})
        result = sh(
            deploy_argv(version, greeting, database, replicas),
            check=False,
            timeout=COMMAND_TIMEOUT_S,
            extra_env=env,
        )
        text = Path(f.name).read_text()
    PHASES.clear()
    PHASES.update(json.loads(text) if text.strip() else {})
    return result.returncode, result.stdout[-3000:] + result.stderr[-1000:]


def settle_after_helm(version: str, greeting: str, database: str, replicas: int) -> None:
    """A revision helm made outside the kit is unverified, and the next deploy.yml would
    verify it first (its repair) and pay for that in its own time. status.yml makes that
    repair here, unmeasured: every deploy.yml starts from a verified release."""
    argv = deploy_argv(version, greeting, database, replicas)
    argv[1] = "playbooks/status.yml"
    result = sh(argv, check=False, timeout=COMMAND_TIMEOUT_S)
    if result.returncode != 0:
        print(f"status.yml after helm: rc {result.returncode}", file=sys.stderr)


def run_bare_helm(greeting: str) -> tuple[int, str]:
    """helm upgrade --wait of the release's own values with only the greeting changed."""
    values = yaml.safe_load(helm("get", "values", RELEASE, "-n", NAMESPACE, "-o", "yaml").stdout)
    values = values or {}
    values.setdefault("app", {})["greeting"] = greeting
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="bench-values-") as f:
        yaml.safe_dump(values, f)
        f.flush()
        result = helm(
            "upgrade",
            RELEASE,
            str(REPO / "charts/fastapi-app"),
            "-n",
            NAMESPACE,
            "--values",
            f.name,
            "--wait=watcher",
            "--timeout",
            "10m",
            "--history-max",
            "10",
            check=False,
            timeout=COMMAND_TIMEOUT_S,
        )
    return result.returncode, result.stdout[-2000:] + result.stderr[-1000:]


# ------------------------------------------------------------------ measuring
def pods() -> dict[str, float]:
    """The release's pods and their creation times (epoch seconds)."""
    out = kubectl("get", "pods", "-n", NAMESPACE, "-l", SELECTOR, "-o", "json").stdout
    return {
        p["metadata"]["name"]: calendar.timegm(
            time.strptime(p["metadata"]["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
        )
        for p in json.loads(out)["items"]
    }


def rolling_window(
    report: Report, old: dict[str, float], now: dict[str, float]
) -> tuple[float, float] | None:
    """From the creation of the first new pod to the last answer of an old pod or the
    first answer of a new one, whichever is later (probe offsets, seconds).

    Keep-alive connections stay on one pod until it closes them, so the answers of old and
    new pods barely overlap; the creation time is where the rollout really starts."""
    created = [t for name, t in now.items() if name not in old]
    new_at = [r.start for r in report.results if r.pod and r.pod not in old]
    old_at = [r.start for r in report.results if r.pod and r.pod in old]
    if not created or not new_at:
        return None
    start = min(created) - report.started_at
    end = max([min(new_at), *old_at])
    return (start, end) if end > start else None


def greeting_now() -> str:
    with urllib.request.urlopen(f"{URL}/endpoint", timeout=5) as response:  # noqa: S310 (loopback)
        return str(json.load(response)["Hello"])


def pct(values: Iterable[float], q: float) -> float | None:
    data = sorted(values)
    if not data:
        return None
    rank = max(1, round(q / 100 * len(data) + 0.4999))  # nearest rank, like zdprobe
    return round(data[min(rank, len(data)) - 1], 2)


def latency(
    report: Report, start_s: float | None = None, end_s: float | None = None
) -> dict[str, Any]:
    """p50/p99 of the successful /endpoint answers that started in [start_s, end_s]."""
    lo = -1.0 if start_s is None else start_s
    hi = float("inf") if end_s is None else end_s
    ms = [
        r.latency_ms
        for r in report.results
        if r.ok and r.path == "/endpoint" and lo <= r.start <= hi
    ]
    return {"count": len(ms), "p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99)}


@dataclass
class Rollout:
    replicas: int
    round: int
    method: str  # one of METHODS
    greeting: str
    rc: int
    wall_s: float
    sent: int
    failed: int
    errors: dict[str, int]
    quiet: dict[str, Any]
    during: dict[str, Any]  # every request while the command ran
    rolling: dict[str, Any]  # see rolling_window()
    rolling_window_s: float | None
    rolled: bool
    # deploy.yml only: seconds its verify step waited for the rollout (from its report).
    verify_s: float | None = None
    # deploy.yml only: seconds per phase and the number of tasks (its output callback).
    phases: dict[str, float] = field(default_factory=dict)
    tasks: int | None = None
    # deploy.yml only: {kind: {"count", "seconds"}} for module, controller and skipped tasks.
    task_time: dict[str, dict[str, float]] = field(default_factory=dict)
    tail: str = field(default="", repr=False)


def quiet_window(seconds: float) -> Report:
    config = ProbeConfig(
        url=URL,
        path="/endpoint",
        health_path="/health",
        rate=RATE,
        duration=seconds,
        mode="keepalive",
    )
    return run(config)


def measure(
    replicas: int,
    round_no: int,
    method: str,
    greeting: str,
    action: Callable[[], tuple[int, str]],
    quiet_s: float,
) -> Rollout:
    quiet = quiet_window(quiet_s)
    old = pods()
    config = ProbeConfig(
        url=URL, path="/endpoint", health_path="/health", rate=RATE, duration=900, mode="keepalive"
    )
    with ProbeInBackground(config) as probe:
        t0 = time.time()
        rc, tail = action()
        t1 = time.time()
        time.sleep(TAIL_S)
        report = probe.stop()
    start, end = t0 - report.started_at, t1 - report.started_at
    window = rolling_window(report, old, pods())
    try:
        rolled = greeting_now() == greeting
    except OSError:
        rolled = False
    ran = PHASES if method in (DEPLOY, LINEAR) else {}
    return Rollout(
        replicas=replicas,
        round=round_no,
        method=method,
        greeting=greeting,
        rc=rc,
        wall_s=round(t1 - t0, 2),
        sent=report.sent,
        failed=report.failed,
        errors=dict(report.outcomes_failed()),
        quiet={**latency(quiet), "sent": quiet.sent, "failed": quiet.failed},
        during=latency(report, start, end),
        rolling=latency(report, *window) if window else latency(report, 0, -1),
        rolling_window_s=round(window[1] - window[0], 2) if window else None,
        rolled=rolled,
        verify_s=float(m.group(1)) if (m := VERIFIED.search(tail)) else None,
        phases={
            str(p["name"]): float(p["seconds"])
            for p in ran.get("phases", [])
            if p.get("status") in ("ok", "failed")
        },
        tasks=ran.get("tasks"),
        task_time=dict(ran.get("task_time") or {}),
        # deploy.yml's one-screen output (its phase lines say why one was slow), any failure.
        tail=tail if rc != 0 or method != HELM else "",
    )


# ------------------------------------------------------------------ output
def med(values: Iterable[float | None]) -> float | None:
    data = [v for v in values if v is not None]
    return round(statistics.median(data), 2) if data else None


def summarize(rollouts: list[Rollout]) -> dict[str, Any]:
    by: dict[str, Any] = {}
    for method in METHODS:
        rs = [r for r in rollouts if r.method == method]
        if not rs:
            continue
        walls = [r.wall_s for r in rs]
        by[method] = {
            "rollouts": len(rs),
            "ok": sum(1 for r in rs if r.rc == 0 and r.rolled),
            "wall_s_mean": round(statistics.mean(walls), 2),
            "wall_s_median": med(walls),
            "wall_s_min": min(walls),
            "wall_s_max": max(walls),
            "sent": sum(r.sent for r in rs),
            "failed": sum(r.failed for r in rs),
            "quiet_p50_ms": med(r.quiet["p50_ms"] for r in rs),
            "quiet_p99_ms": med(r.quiet["p99_ms"] for r in rs),
            "during_p50_ms": med(r.during["p50_ms"] for r in rs),
            "during_p99_ms": med(r.during["p99_ms"] for r in rs),
            "rolling_p50_ms": med(r.rolling["p50_ms"] for r in rs),
            "rolling_p99_ms": med(r.rolling["p99_ms"] for r in rs),
            "rolling_window_s_median": med(r.rolling_window_s for r in rs),
            "verify_s_median": med(r.verify_s for r in rs),
        }
    for name, (a, b) in {
        "ratio_deploy_over_helm": (DEPLOY, HELM),
        "ratio_linear_over_helm": (LINEAR, HELM),
        "ratio_linear_over_deploy": (LINEAR, DEPLOY),  # what the Mitogen runner saves
    }.items():
        if a in by and b in by:
            by[name] = {
                "mean": round(by[a]["wall_s_mean"] / by[b]["wall_s_mean"], 2),
                "median": round(by[a]["wall_s_median"] / by[b]["wall_s_median"], 2),
            }
    return by


PHASE_ORDER = ("preflight", "lock", "image", "migrations", "preview", "release", "verify", "unlock")


def phase_medians(rollouts: list[Rollout]) -> dict[str, float]:
    """Median seconds of each deploy.yml phase over the rollouts (in pipeline order)."""
    names = [n for n in PHASE_ORDER if any(n in r.phases for r in rollouts)]
    names += sorted({n for r in rollouts for n in r.phases} - set(names))
    return {n: med(r.phases.get(n) for r in rollouts) or 0.0 for n in names}


TASK_KINDS = {
    "module": "module calls (helm, kubectl, the API, and the waits)",
    "controller": "controller-only tasks (facts, checks, includes)",
    "skipped": "skipped tasks",
}


def task_time_medians(rollouts: list[Rollout]) -> dict[str, dict[str, float]]:
    """Median count and seconds of each kind of task over the rollouts: what a deploy
    costs in module calls, and what Ansible's per-task overhead adds to them."""
    return {
        kind: {
            "count": round(med(r.task_time.get(kind, {}).get("count") for r in rollouts) or 0),
            "seconds": med(r.task_time.get(kind, {}).get("seconds") for r in rollouts) or 0.0,
        }
        for kind in TASK_KINDS
        if any(kind in r.task_time for r in rollouts)
    }


def slope(points: list[tuple[int, float]]) -> float | None:
    """Least-squares seconds per added pod over (replicas, median wall s)."""
    if len(points) < 2:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return round(sum((x - mx) * (y - my) for x, y in points) / den, 2) if den else None


def by_replicas(rollouts: list[Rollout]) -> dict[str, Any]:
    """Per replica count: each method's summary, the ratio, deploy.yml's phases; and the
    seconds per added pod of each method (between consecutive counts, and overall)."""
    counts = sorted({r.replicas for r in rollouts})
    out: dict[str, Any] = {"replicas": counts, "per": {}, "seconds_per_pod": {}}
    for n in counts:
        rs = [r for r in rollouts if r.replicas == n]
        summary = summarize(rs)
        deploys = [r for r in rs if r.method == DEPLOY and r.rc == 0]
        summary["phases_median_s"] = phase_medians(deploys)
        summary["tasks_median"] = med(r.tasks for r in deploys)
        summary["task_time_median"] = task_time_medians(deploys)
        stock = [r for r in rs if r.method == LINEAR and r.rc == 0]
        if stock:
            summary["phases_median_s_linear"] = phase_medians(stock)
        if DEPLOY in summary and HELM in summary:
            summary["overhead_s_median"] = round(
                summary[DEPLOY]["wall_s_median"] - summary[HELM]["wall_s_median"], 2
            )
        out["per"][str(n)] = summary
    for method in [m for m in METHODS if any(r.method == m for r in rollouts)]:
        points = [
            (n, out["per"][str(n)][method]["wall_s_median"])
            for n in counts
            if method in out["per"][str(n)]
        ]
        steps = [
            {
                "from": a[0],
                "to": b[0],
                "s_per_pod": round((b[1] - a[1]) / (b[0] - a[0]), 2),
            }
            for a, b in itertools.pairwise(points)
        ]
        out["seconds_per_pod"][method] = {"overall": slope(points), "steps": steps}
    return out


def replicas_table(sweep: dict[str, Any]) -> str:
    lines = ["", "by replica count (medians):"]
    head = (
        f"{'replicas':>8} {'deploy.yml s':>12} {'helm s':>7} {'ratio':>6} {'over s':>7} "
        f"{'linear s':>8} {'linear/deploy':>13} {'failed':>6}"
    )
    lines += [head, "-" * len(head)]
    for n in sweep["replicas"]:
        s = sweep["per"][str(n)]
        d, h, li = s.get(DEPLOY, {}), s.get(HELM, {}), s.get(LINEAR, {})
        ratio = s.get("ratio_deploy_over_helm", {}).get("median")
        gain = s.get("ratio_linear_over_deploy", {}).get("median")
        failed = d.get("failed", 0) + h.get("failed", 0) + li.get("failed", 0)
        lines.append(
            f"{n:>8} {fmt(d.get('wall_s_median')):>12} {fmt(h.get('wall_s_median')):>7} "
            f"{fmt(ratio):>6} {fmt(s.get('overhead_s_median')):>7} "
            f"{fmt(li.get('wall_s_median')):>8} {fmt(gain):>13} {failed:>6}"
        )
    for method, per in sweep["seconds_per_pod"].items():
        steps = ", ".join(f"{x['from']}->{x['to']}: {x['s_per_pod']}" for x in per["steps"])
        lines.append(
            f"seconds per added pod, {method}: {fmt(per['overall'])} overall ({steps or '-'})"
        )
    lines += ["", "deploy.yml by phase (median s, share of its wall time; helm --wait whole):"]
    for n in sweep["replicas"]:
        s = sweep["per"][str(n)]
        wall = s.get(DEPLOY, {}).get("wall_s_median") or 0
        phases = s.get("phases_median_s", {})
        stock = s.get("phases_median_s_linear", {})
        lines.append(
            f"  {n} replicas, {fmt(s.get('tasks_median'))} tasks"
            + (" (stock linear in the last column):" if stock else ":")
        )
        for name, secs in phases.items():
            share = f"{100 * secs / wall:.0f}%" if wall else "-"
            linear = f" {stock[name]:>6.1f}s" if name in stock else ""
            lines.append(f"    {name:<11} {secs:>6.1f}s {share:>5}{linear}")
        helm_wall = s.get(HELM, {}).get("wall_s_median")
        lines.append(f"    {'helm --wait':<11} {fmt(helm_wall):>6}s (whole)")
        kinds = s.get("task_time_median", {})
        if kinds:
            lines.append("    by kind of task (median s and count):")
            for kind, what in TASK_KINDS.items():
                if kind in kinds:
                    count, secs = kinds[kind]["count"], kinds[kind]["seconds"]
                    lines.append(f"      {secs:5.1f}s in {fmt(count):>4} {what}")
    return "\n".join(lines)


def fmt(v: Any) -> str:
    return "-" if v is None else str(v)


def table(rollouts: list[Rollout], summary: dict[str, Any]) -> str:
    head = (
        f"{'R/rnd':>5} {'method':<17} {'rc':>3} {'wall s':>7} {'sent':>5} {'fail':>4} "
        f"{'quiet p50/p99':>15} {'during p50/p99':>16} {'rolling p50/p99':>17} {'window s':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rollouts:
        lines.append(
            f"{f'{r.replicas}/{r.round}':>5} {r.method:<17} {r.rc:>3} {r.wall_s:>7} "
            f"{r.sent:>5} {r.failed:>4} "
            f"{fmt(r.quiet['p50_ms']) + '/' + fmt(r.quiet['p99_ms']):>15} "
            f"{fmt(r.during['p50_ms']) + '/' + fmt(r.during['p99_ms']):>16} "
            f"{fmt(r.rolling['p50_ms']) + '/' + fmt(r.rolling['p99_ms']):>17} "
            f"{fmt(r.rolling_window_s):>8}"
        )
    lines.append("")
    for method in METHODS:
        s = summary.get(method)
        if s:
            lines.append(
                f"{method:<17} wall mean {s['wall_s_mean']}s median {s['wall_s_median']}s "
                f"(min {s['wall_s_min']}, max {s['wall_s_max']}); {s['sent']} requests, "
                f"{s['failed']} failed; p50/p99 ms quiet {s['quiet_p50_ms']}/{s['quiet_p99_ms']}, "
                f"during {s['during_p50_ms']}/{s['during_p99_ms']}, "
                f"rolling {s['rolling_p50_ms']}/{s['rolling_p99_ms']}"
                + (
                    f"; deploy.yml's verify step waited {s['verify_s_median']}s (median)"
                    if s.get("verify_s_median") is not None
                    else ""
                )
            )
    for key, label in (
        ("ratio_deploy_over_helm", "deploy.yml / helm --wait"),
        ("ratio_linear_over_helm", "deploy.yml linear / helm --wait"),
        ("ratio_linear_over_deploy", "deploy.yml linear / deploy.yml"),
    ):
        ratio = summary.get(key)
        # Pooled over several replica counts a ratio means little: the sweep table has them.
        if ratio and len({r.replicas for r in rollouts}) == 1:
            lines.append(f"ratio {label}: mean {ratio['mean']}x, median {ratio['median']}x")
    return "\n".join(lines)


def plot(rollouts: list[Rollout], summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    methods = [m for m in METHODS if any(r.method == m for r in rollouts)]
    colors = COLORS
    # One bar group per (replica count, round): a sweep's counts are not pooled.
    slots = sorted({(r.replicas, r.round) for r in rollouts})
    single_count = len({n for n, _ in slots}) == 1
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        walls = {(r.replicas, r.round): r.wall_s for r in rollouts if r.method == method}
        xs = [x + (i - (len(methods) - 1) / 2) * width for x, k in enumerate(slots) if k in walls]
        ys = [walls[k] for k in slots if k in walls]
        ax1.bar(xs, ys, width, label=method, color=colors[method])
    ax1.set_xticks(
        range(len(slots)),
        [f"round {k}" if single_count else f"{n} pods, r{k}" for n, k in slots],
        rotation=0 if single_count else 45,
    )
    ax1.set_ylabel("wall time of the rollout (s)")
    ratio = summary.get("ratio_deploy_over_helm", {}).get("mean") if single_count else None
    ax1.set_title(f"wall time (deploy / helm = {ratio}x)" if ratio else "wall time")
    ax1.legend()

    groups = ["quiet", "during", "rolling"]
    for i, method in enumerate(methods):
        s = summary.get(method)
        if not s:
            continue
        for j, q in enumerate(("p50", "p99")):
            vals = [s.get(f"{g}_{q}_ms") or 0 for g in groups]
            xs = [g * 2.2 + i * 1.0 + j * 0.45 for g in range(len(groups))]
            ax2.bar(
                xs,
                vals,
                0.42,
                color=colors[method],
                alpha=0.55 if q == "p50" else 1.0,
                label=f"{method} {q}",
            )
    ax2.set_xticks([g * 2.2 + 0.7 for g in range(len(groups))], groups)
    ax2.set_ylabel("latency of /endpoint (ms, median over rounds)")
    ax2.set_title(f"latency at {RATE:.0f} req/s keep-alive")
    ax2.legend(fontsize=8)
    failed = sum(r.failed for r in rollouts)
    sent = sum(r.sent for r in rollouts)
    fig.suptitle(f"bench-rollout: {len(rollouts)} rollouts, {failed}/{sent} requests failed")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_replicas(sweep: dict[str, Any], path: Path) -> None:
    """Median rollout time over the replica count, both methods, and deploy.yml's phases."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    counts = sweep["replicas"]
    for method in sweep["seconds_per_pod"]:
        color = COLORS[method]
        xs = [n for n in counts if method in sweep["per"][str(n)]]
        ys = [sweep["per"][str(n)][method]["wall_s_median"] for n in xs]
        per_pod = sweep["seconds_per_pod"][method]["overall"]
        ax1.plot(xs, ys, "o-", color=color, label=f"{method} ({fmt(per_pod)} s per added pod)")
    ax1.set_xlabel("replicas")
    ax1.set_ylabel("rollout wall time, median (s)")
    ax1.set_title("rollout time by replica count")
    ax1.legend()
    bottom = [0.0] * len(counts)
    names = list(PHASE_ORDER)
    for name in names:
        vals = [sweep["per"][str(n)].get("phases_median_s", {}).get(name, 0.0) for n in counts]
        ax2.bar([str(n) for n in counts], vals, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    helm = [sweep["per"][str(n)].get(HELM, {}).get("wall_s_median") or 0 for n in counts]
    ax2.plot([str(n) for n in counts], helm, "k_", markersize=30, mew=2, label="helm --wait")
    ax2.set_xlabel("replicas")
    ax2.set_ylabel("seconds (median)")
    ax2.set_title("deploy.yml by phase")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rollout", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=3, help="rollouts of each kind (default 3)")
    parser.add_argument("--version", default="0.0.2", help="image version (same in every rollout)")
    parser.add_argument(
        "--quiet-seconds", type=float, default=10.0, help="quiet window before each rollout"
    )
    parser.add_argument(
        "--budget", type=float, default=900.0, help="stop starting rollouts after this (s)"
    )
    parser.add_argument(
        "--replicas",
        default="2",
        help="comma-separated replica counts, each 1..30 (default 2), e.g. 2,10,20",
    )
    parser.add_argument("--database", choices=("copy", "none"), default="copy")
    parser.add_argument("--json", type=Path, default=REPO / "reports/bench-rollout.json")
    parser.add_argument("--plot", type=Path, default=REPO / "reports/bench-rollout.png")
    parser.add_argument("--keep", action="store_true", help="leave the namespace for inspection")
    parser.add_argument(
        "--stock-ansible",
        action="store_true",
        help="also roll with deploy.yml on Ansible's own linear strategy (ANSIBLE_STRATEGY=linear)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 10 or not 60 <= args.budget <= 3600:
        parser.error("--rounds must be 1..10 and --budget 60..3600")
    try:
        counts = [int(x) for x in str(args.replicas).split(",") if x.strip()]
    except ValueError:
        parser.error(f"--replicas: not a list of numbers: {args.replicas}")
    if not counts or any(not 1 <= n <= 30 for n in counts):
        parser.error("--replicas: each count must be 1..30")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.plot.parent.mkdir(parents=True, exist_ok=True)

    began = time.monotonic()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rollouts: list[Rollout] = []
    truncated = False
    setup_s = 0.0
    try:
        prepare_namespace(args.database)
        flip = 0
        for replicas in counts:
            set_up = time.monotonic()
            print(
                f"set-up: deploy.yml {args.version} into {NAMESPACE}, {replicas} replicas"
                " (not measured)",
                flush=True,
            )
            rc, tail = run_deploy(args.version, "Bench-setup", args.database, replicas)
            setup_s += round(time.monotonic() - set_up, 1)
            if rc != 0:
                print(tail, file=sys.stderr)
                raise RuntimeError(f"set-up deploy failed (rc {rc})")
            longest = 60.0 + 8.0 * replicas
            for round_no in range(1, args.rounds + 1):
                order = [DEPLOY, HELM] + ([LINEAR] if args.stock_ansible else [])
                # Neither method always goes first: each round starts one further on.
                shift = (round_no - 1) % len(order)
                order = order[shift:] + order[:shift]
                for method in order:
                    if (
                        time.monotonic() - began + longest + args.quiet_seconds + TAIL_S
                        > args.budget
                    ):
                        truncated = True
                        break
                    flip += 1
                    greeting = f"Bench-{'AB'[flip % 2]}"

                    def action(
                        m: str = method, g: str = greeting, n: int = replicas
                    ) -> tuple[int, str]:
                        if m == HELM:
                            return run_bare_helm(g)
                        return run_deploy(args.version, g, args.database, n, stock=m == LINEAR)

                    r = measure(replicas, round_no, method, greeting, action, args.quiet_seconds)
                    longest = max(longest, r.wall_s * 1.2)
                    rollouts.append(r)
                    print(
                        f"{replicas} replicas, round {round_no} {method}: rc {r.rc} "
                        f"in {r.wall_s}s, {r.failed}/{r.sent} failed, rolled {r.rolled}"
                        + (f", {r.tasks} tasks" if r.tasks else ""),
                        flush=True,
                    )
                    if r.rc != 0:
                        print(r.tail, file=sys.stderr)
                    if method == HELM:
                        settle_after_helm(args.version, greeting, args.database, replicas)
                if truncated:
                    break
            if truncated:
                print(
                    f"budget of {args.budget:.0f}s reached: stopping after {len(rollouts)} rollouts"
                )
                break
    finally:
        if not args.keep:
            clean_up()

    summary = summarize(rollouts)
    sweep = by_replicas(rollouts)
    doc = {
        "benchmark": "bench-rollout",
        "started_at": started_at,
        "elapsed_s": round(time.monotonic() - began, 1),
        "setup_s": setup_s,
        "settings": {
            "namespace": NAMESPACE,
            "release": RELEASE,
            "url": URL,
            "version": args.version,
            "rounds": args.rounds,
            "replicas": counts,
            "rate": RATE,
            "mode": "keepalive",
            "path": "/endpoint",
            "health_path": "/health",
            "quiet_seconds": args.quiet_seconds,
            "tail_seconds": TAIL_S,
            "database": args.database,
            "budget_s": args.budget,
            "truncated": truncated,
        },
        "summary": summary,
        "by_replicas": sweep,
        "rollouts": [asdict(r) for r in rollouts],
    }
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print()
    print(table(rollouts, summary))
    print(replicas_table(sweep))
    print(f"\nreport: {args.json}")
    if rollouts:
        plot(rollouts, summary, args.plot)
        print(f"plot: {args.plot}")
    if len(sweep["replicas"]) > 1:
        path = args.plot.with_name(args.plot.stem + "-replicas.png")
        plot_replicas(sweep, path)
        print(f"plot: {path}")
    bad = [r for r in rollouts if r.rc != 0 or not r.rolled]
    dropped = [r for r in rollouts if r.failed > 0]
    if dropped:  # the benchmark is a zero-downtime check as well
        print(f"NOT zero-downtime: {len(dropped)} rollouts failed requests", file=sys.stderr)
    return 1 if bad or dropped or not rollouts else 0


if __name__ == "__main__":
    sys.exit(main())
