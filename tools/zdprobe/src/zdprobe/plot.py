"""PNG timeline of a run: traffic ok/failed per second, p99 latency, versions served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zdprobe.report import Report

PALETTE = ("#4c72b0", "#dd8452", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")


def _bands(seconds: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    """Runs of consecutive seconds with the same dominant version: (first, last + 1, version)."""
    bands: list[tuple[int, int, str]] = []
    for row in seconds:
        counts: dict[str, int] = row["versions"]
        if not counts:
            continue
        top = max(counts, key=counts.__getitem__)
        second = int(row["second"])
        if bands and bands[-1][2] == top and bands[-1][1] == second:
            bands[-1] = (bands[-1][0], second + 1, top)
        else:
            bands.append((second, second + 1, top))
    return bands


def plot_report(report: Report, path: str | Path) -> None:
    """Write the timeline of ``report`` as a PNG file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    seconds = report.seconds()
    xs = [int(row["second"]) for row in seconds]
    # The last bucket is usually a partial second: plot rates, not counts.
    widths = [max(0.05, min(1.0, report.elapsed_s - x)) for x in xs]
    ok = [int(row["ok"]) / w for row, w in zip(seconds, widths, strict=True)]
    failed = [int(row["failed"]) / w for row, w in zip(seconds, widths, strict=True)]
    p99 = [row["p99_ms"] if row["p99_ms"] is not None else float("nan") for row in seconds]
    p50 = [row["p50_ms"] if row["p50_ms"] is not None else float("nan") for row in seconds]
    versions = report.versions_in_order()
    colour = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(versions)}

    fig, (ax_req, ax_lat, ax_ver) = plt.subplots(
        3, 1, sharex=True, figsize=(11, 7), height_ratios=(3, 2, 1), constrained_layout=True
    )
    try:
        for first, end, version in _bands(seconds):
            for ax in (ax_req, ax_lat):
                ax.axvspan(first, end, color=colour[version], alpha=0.12, linewidth=0)
        ax_req.bar(xs, ok, width=widths, align="edge", color="#55a868", label="ok / s")
        ax_req.bar(
            xs, failed, width=widths, align="edge", bottom=ok, color="#c44e52", label="failed / s"
        )
        ax_req.set_ylabel("requests / s")
        handles = ax_req.get_legend_handles_labels()[0]
        handles += [Patch(color=colour[v], alpha=0.3, label=f"version {v}") for v in versions]
        ax_req.legend(handles=handles, loc="upper left", fontsize="small", ncols=2)

        centres = [x + 0.5 for x in xs]
        ax_lat.plot(centres, p99, marker=".", color="#333333", label="p99 (ok)")
        ax_lat.plot(centres, p50, linestyle=":", color="#777777", label="p50 (ok)")
        ax_lat.set_ylabel("latency ms")
        ax_lat.legend(loc="upper left", fontsize="small")

        bottom = [0.0] * len(seconds)
        for version in versions:
            share = []
            for row in seconds:
                total = sum(row["versions"].values())
                share.append(row["versions"].get(version, 0) / total if total else 0.0)
            ax_ver.bar(xs, share, width=widths, align="edge", bottom=bottom, color=colour[version])
            bottom = [b + s for b, s in zip(bottom, share, strict=True)]
        ax_ver.set_ylim(0, 1)
        ax_ver.set_ylabel("version share")
        ax_ver.set_xlabel("seconds since start")
        ax_ver.set_xlim(0, max(1.0, report.elapsed_s, xs[-1] + widths[-1]))

        cfg = report.config
        fig.suptitle(
            f"{report.verdict}\n{cfg.target(cfg.path)}  mode={cfg.mode}  rate={cfg.rate:g}/s",
            color="#2e7d32" if report.passed else "#c62828",
        )
        fig.savefig(str(path), format="png", dpi=100)
    finally:
        plt.close(fig)
