"""Capacity of zdprobe on this machine: ``make bench-probe`` (not part of ``make test``).

Starts the probe tests' trivial ASGI app (``serve.py``: uvicorn, ``asgi_app.py``) on
127.0.0.1, then runs the probe against it in-process, once per mode: keep-alive at 2000 req/s
and one fresh connection per request at 1000 req/s, 20 s each by default. Reports, per mode,
the rate achieved, sent / failed / unsent, latency p50/p99, how late requests started
compared with the schedule, and whether the probe kept its schedule; writes them as JSON.
Exit 0 when every run kept its schedule with no failed request, 1 otherwise.

Everything goes to 127.0.0.1 only; each run is bounded by its duration (at most 120 s) and
the server by a start timeout and a kill at the end.

    python -m tests.probe.bench_capacity --json reports/bench-probe.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zdprobe import ProbeConfig, __version__, run

from .servers import REPO, AppServer

MAX_DURATION_S = 120.0
LAG_LIMIT_MS = 50.0  # a run whose p99 start lag is above this did not keep its schedule
ON_TIME_MS = 10.0  # "on time": started at most this late
MIN_RATE_SHARE = 0.99  # ...nor one that sent less than this share of the asked rate
BACKLOG = 4096


@dataclass(frozen=True)
class Run:
    mode: str
    rate: float


def _cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(BACKLOG)
    return sock


def measure(
    url: str, spec: Run, args: argparse.Namespace, servers: list[AppServer]
) -> dict[str, Any]:
    config = ProbeConfig(
        url=url,
        path="/health",
        rate=spec.rate,
        duration=args.duration,
        mode=spec.mode,  # type: ignore[arg-type]
        concurrency=args.concurrency,
        timeout=5.0,
    )
    lines: list[str] = []
    server_cpu = sum(_cpu_seconds(s.process.pid) for s in servers)
    probe_cpu = time.process_time()
    load_before = os.getloadavg()[0]
    report = run(config, on_line=lines.append, live=True)
    probe_cpu = time.process_time() - probe_cpu
    server_cpu = sum(_cpu_seconds(s.process.pid) for s in servers) - server_cpu
    summary = report.summary()
    expected = math.ceil(spec.rate * args.duration)
    achieved = report.sent / report.elapsed_s
    lag_p99 = summary["scheduling"]["lag_ms_p99"]
    kept = (
        report.unsent == 0
        and report.sent == expected
        and achieved >= MIN_RATE_SHARE * spec.rate
        and lag_p99 is not None
        and lag_p99 <= LAG_LIMIT_MS
    )
    ok_latency = summary["latency_ms"]["ok"]
    on_time = sum(1 for r in report.results if r.start - r.scheduled <= ON_TIME_MS / 1000)
    return {
        "mode": spec.mode,
        "rate_asked": spec.rate,
        "duration_s": args.duration,
        "concurrency": args.concurrency,
        "expected": expected,
        "sent": report.sent,
        "ok": report.ok,
        "failed": report.failed,
        "unsent": report.unsent,
        "errors": summary["errors"],
        "status": summary["status"],
        "elapsed_s": round(report.elapsed_s, 3),
        "achieved_rps": round(achieved, 1),
        "latency_ms": {k: ok_latency[k] for k in ("p50", "p99", "max")},
        "lag_ms": {"p99": lag_p99, "max": summary["scheduling"]["lag_ms_max"]},
        "on_time_percent": round(100 * on_time / max(1, report.sent), 2),
        "behind_lines": sum(1 for line in lines if "BEHIND" in line),
        "versions": report.versions_in_order(),
        "kept_schedule": kept,
        "probe_cpu_percent": round(100 * probe_cpu / report.elapsed_s, 1),
        "server_cpu_percent": round(100 * server_cpu / report.elapsed_s, 1),
        "loadavg_1m_before": round(load_before, 2),
    }


def _line(row: dict[str, Any]) -> str:
    lat, lag = row["latency_ms"], row["lag_ms"]
    return (
        f"{row['mode']:<9} asked {row['rate_asked']:>6g}/s  "
        f"achieved {row['achieved_rps']:>7.1f}/s  "
        f"sent {row['sent']} failed {row['failed']} unsent {row['unsent']}  "
        f"p50 {lat['p50']}ms p99 {lat['p99']}ms  lag p99 {lag['p99']}ms max {lag['max']}ms "
        f"on time {row['on_time_percent']}%  "
        f"cpu probe {row['probe_cpu_percent']}% server {row['server_cpu_percent']}%  "
        f"{'kept its schedule' if row['kept_schedule'] else 'FELL BEHIND'}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.probe.bench_capacity", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--keepalive-rate", type=float, default=2000.0)
    parser.add_argument("--fresh-rate", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per mode (20)")
    parser.add_argument("--concurrency", type=int, default=64, help="probe workers (64)")
    parser.add_argument("--server-workers", type=int, default=1, help="uvicorn processes (1)")
    parser.add_argument("--json", type=Path, default=REPO / "reports/bench-probe.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0 < args.duration <= MAX_DURATION_S:
        raise SystemExit(f"--duration must be in (0, {MAX_DURATION_S:g}]")
    if not 1 <= args.server_workers <= 8:
        raise SystemExit("--server-workers must be between 1 and 8")
    sock = _listening_socket()
    servers: list[AppServer] = []
    rows: list[dict[str, Any]] = []
    try:
        for _ in range(args.server_workers):  # several processes accept on one socket
            servers.append(AppServer(sock, version="bench"))
        sock.close()  # the servers hold their own copies
        for server in servers:
            server.wait_serving("bench")
        url = servers[0].url
        print(
            f"zdprobe {__version__} vs uvicorn x{args.server_workers} (tests/probe/asgi_app.py) "
            f"on {url}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        for spec in (Run("keepalive", args.keepalive_rate), Run("fresh", args.fresh_rate)):
            rows.append(measure(url, spec, args, servers))
            print(_line(rows[-1]), flush=True)
    finally:
        for server in servers:
            server.stop()
        sock.close()
    passed = all(row["kept_schedule"] and row["failed"] == 0 for row in rows)
    result = {
        "tool": "zdprobe",
        "zdprobe_version": __version__,
        "command": "make bench-probe",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "server": {
            "app": "tests/probe/asgi_app.py (GET /health: small JSON with the version)",
            "runner": "uvicorn, tests/probe/serve.py",
            "workers": args.server_workers,
            "address": "127.0.0.1",
        },
        "criteria": {
            "kept_schedule": f"every scheduled request sent (unsent 0), achieved rate >= "
            f"{MIN_RATE_SHARE:.0%} of asked, start lag p99 <= {LAG_LIMIT_MS:g} ms",
        },
        "runs": rows,
        "passed": passed,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{'PASS' if passed else 'FAIL'}: written {args.json}", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
