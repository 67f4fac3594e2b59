"""Throughput of GET /endpoint with the lifecycle middleware vs without it.

Two uvicorn processes (same version, same flags, 127.0.0.1 only) serve the same app with
and without the middleware; a keep-alive HTTP/1.1 client measures them in alternating
rounds (A B B A ...) so that drifting machine load hits both sides alike. Every round is
bounded in requests and in time. Prints requests/s per side and the ratio with/without
(goal >= 0.95).

    cd app && python -m bench.app_middleware [--rounds 6] [--requests 3000] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[1]
GOAL = 0.95
ROUND_TIMEOUT_SECONDS = 60.0
REQUEST = b"GET /endpoint HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@dataclass
class Side:
    name: str
    target: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    rates: list[float] = field(default_factory=list)
    cpu_per_request: list[float] = field(default_factory=list)  # server CPU seconds


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(side: Side, workdir: Path, access_log: bool) -> None:
    side.port = free_port()
    env = {
        **os.environ,
        "APP_WARMUP_SECONDS": "0",
        "APP_DRAIN_SECONDS": "0",
        "DATABASE_URL": f"sqlite:///{workdir}/{side.name}.db",
    }
    argv = [
        sys.executable, "-m", "uvicorn", side.target, "--host", "127.0.0.1",
        "--port", str(side.port), "--timeout-graceful-shutdown", "5",
        "--timeout-keep-alive", "75", "--log-level", "warning",
    ]  # fmt: skip
    if not access_log:
        argv.append("--no-access-log")
    # argv: this interpreter, fixed options, a free port of ours.
    side.proc = subprocess.Popen(argv, cwd=APP_DIR, env=env, stdout=subprocess.DEVNULL)  # noqa: S603


def wait_ready(side: Side, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if side.proc is not None and side.proc.poll() is not None:
            raise SystemExit(f"{side.name}: uvicorn exited with {side.proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", side.port), timeout=1) as sock:
                sock.sendall(b"GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{side.name}: not ready within {timeout}s")


async def client(port: int, count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer: {head[:40]!r}")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()


async def measure(port: int, requests: int, connections: int) -> float:
    """Requests per second for `requests` requests over `connections` keep-alive clients."""
    per_client = requests // connections
    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(client(port, per_client) for _ in range(connections))),
        ROUND_TIMEOUT_SECONDS,
    )
    return per_client * connections / (time.perf_counter() - started)


def stop(side: Side) -> None:
    if side.proc is not None and side.proc.poll() is None:
        side.proc.send_signal(signal.SIGTERM)
        try:
            side.proc.wait(15)
        except subprocess.TimeoutExpired:
            side.proc.kill()
            side.proc.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="measured rounds per side")
    parser.add_argument("--requests", type=int, default=3000, help="requests per round and side")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections")
    parser.add_argument("--access-log", action="store_true", help="keep uvicorn's access log")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not (1 <= args.rounds <= 50 and 100 <= args.requests <= 100_000):
        parser.error("rounds 1..50, requests 100..100000")

    with_mw = Side("with_middleware", "bench.apps:with_lifecycle")
    without = Side("without_middleware", "bench.apps:without_lifecycle")
    with tempfile.TemporaryDirectory(prefix="zdk-bench-") as workdir:
        try:
            for side in (with_mw, without):
                start(side, Path(workdir), args.access_log)
            for side in (with_mw, without):
                wait_ready(side)
            print(
                f"bench-app: GET /endpoint, {args.rounds} rounds x {args.requests} requests per"
                f" side, {args.connections} keep-alive connections, 127.0.0.1,"
                f" access log {'on' if args.access_log else 'off'}"
            )
            for side in (with_mw, without):  # warm-up round, not counted
                asyncio.run(measure(side.port, args.requests // 2, args.connections))
            for i in range(args.rounds):
                order = (with_mw, without) if i % 2 == 0 else (without, with_mw)
                for side in order:
                    assert side.proc is not None
                    cpu = cpu_seconds(side.proc.pid)
                    side.rates.append(
                        asyncio.run(measure(side.port, args.requests, args.connections))
                    )
                    side.cpu_per_request.append((cpu_seconds(side.proc.pid) - cpu) / args.requests)
                print(
                    f"  round {i + 1}: with {with_mw.rates[-1]:6.0f} req/s"
                    f" {with_mw.cpu_per_request[-1] * 1e6:5.0f} us CPU/req   without"
                    f" {without.rates[-1]:6.0f} req/s {without.cpu_per_request[-1] * 1e6:5.0f} us"
                    f" CPU/req   ratio {with_mw.rates[-1] / without.rates[-1]:.3f}"
                )
        finally:
            for side in (with_mw, without):
                stop(side)

    med_with = statistics.median(with_mw.rates)
    med_without = statistics.median(without.rates)
    ratio = med_with / med_without
    pair_ratios = [a / b for a, b in zip(with_mw.rates, without.rates, strict=True)]
    # Server CPU per request does not depend on how busy the machine is: the throughput
    # one core could sustain with / without the middleware.
    cpu_ratio = statistics.median(without.cpu_per_request) / statistics.median(
        with_mw.cpu_per_request
    )
    verdict = "meets" if ratio >= GOAL else "BELOW"
    print(
        f"median: with {med_with:.0f} req/s, without {med_without:.0f} req/s;"
        f" per-round ratios {min(pair_ratios):.3f}..{max(pair_ratios):.3f}"
        f" (median {statistics.median(pair_ratios):.3f})\n"
        f"ratio (with/without) = {ratio:.3f}: {verdict} the goal >= {GOAL};"
        f" by server CPU per request: {cpu_ratio:.3f}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "endpoint": "/endpoint",
                    "rounds": args.rounds,
                    "requests_per_round": args.requests,
                    "connections": args.connections,
                    "with_middleware_rps": with_mw.rates,
                    "without_middleware_rps": without.rates,
                    "ratio_of_medians": ratio,
                    "with_middleware_cpu_s_per_request": with_mw.cpu_per_request,
                    "without_middleware_cpu_s_per_request": without.cpu_per_request,
                    "cpu_ratio": cpu_ratio,
                    "goal": GOAL,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
