"""reports/soak.png from the soak's JSON document (bench/soak.py): requests/s, failures/s,
p50 and p99 per second, one line per stream, the rollout phases shaded. Headless (Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PHASE_COLORS = {
    "upgrade": "tab:blue",
    "crash": "tab:red",
    "rollback": "tab:orange",
    "naive-upgrade": "tab:gray",
}
PHASE_NAMES = {
    "upgrade": "upgrade (deploy.yml)",
    "crash": "crashing release, auto rollback",
    "rollback": "rollback.yml",
    "naive-upgrade": "control: bare helm upgrade",
}


def _series(values: list[Any]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    seconds = doc["seconds"]
    xs = list(range(seconds["length"]))
    fig, axes = plt.subplots(4, 1, figsize=(15, 12), sharex=True)
    ax_rate, ax_fail, ax_p50, ax_p99 = axes
    for name, cols in seconds["streams"].items():
        style = "--" if doc["streams"][name]["release"] == "naive" else "-"
        ax_rate.plot(xs, cols["sent"], style, linewidth=0.7, label=name)
        failed = cols["failed"]
        if any(failed):
            ax_fail.plot(xs, failed, style, linewidth=0.9, label=name)
        else:
            ax_fail.plot([], [], style, label=f"{name} (none)")
        ax_p50.plot(xs, _series(cols["p50_ms"]), style, linewidth=0.7, label=name)
        ax_p99.plot(xs, _series(cols["p99_ms"]), style, linewidth=0.7, label=name)

    seen: set[str] = set()
    for phase in doc["phases"]:
        color = PHASE_COLORS.get(phase["kind"])
        if color is None or phase["end_s"] is None:
            continue
        seen.add(phase["kind"])
        for ax in axes:
            ax.axvspan(phase["start_s"], phase["end_s"], color=color, alpha=0.12, linewidth=0)

    ax_rate.set_ylabel("requests/s")
    ax_fail.set_ylabel("failed requests/s")
    ax_p50.set_ylabel("p50 ms (ok answers)")
    ax_p99.set_ylabel("p99 ms (ok answers)")
    ax_p99.set_yscale("log")
    ax_p99.set_xlabel("seconds since the load started")
    ax_rate.legend(fontsize=7, loc="lower left", ncol=3)
    ax_fail.legend(fontsize=7, loc="upper left", ncol=3)
    handles = [
        Patch(color=PHASE_COLORS[k], alpha=0.3, label=PHASE_NAMES[k])
        for k in PHASE_COLORS
        if k in seen
    ]
    if handles:
        ax_p50.legend(handles=handles, fontsize=7, loc="upper left", ncol=len(handles))
    for ax in axes:
        ax.grid(True, alpha=0.3)

    totals = doc["totals"]
    fig.suptitle(
        f"soak: {doc['settings']['cycles_done']} cycles, {totals['sent']:,} requests; "
        f"zero-downtime release {totals['zdk_failed']} failed of {totals['zdk_sent']:,}, "
        f"naive control {totals['naive_failed']} failed of {totals['naive_sent']:,} — "
        f"{'PASS' if doc['passed'] else 'FAIL'}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
