"""Command line: ``zdprobe URL [options]`` (or ``python -m zdprobe``); exit 0 pass, 1 fail,
2 bad usage."""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from zdprobe.config import MAX_DURATION_S, MODES, ConfigError, ProbeConfig
from zdprobe.engine import run

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(
        prog="zdprobe",
        description="Send steady, bounded traffic to a service during a rollout and report "
        "every failed request and the versions served. Exit 0 only when every request got a "
        "2xx answer, 1 otherwise, 2 on bad usage.",
    )
    parser.add_argument("url", help="base URL of the service, e.g. http://127.0.0.1:30080")
    parser.add_argument("--path", default="/health", help="path that gets the traffic (/health)")
    parser.add_argument(
        "--health-path",
        default=None,
        help="also poll this path at --health-rate for the version timeline (off)",
    )
    parser.add_argument("--health-rate", type=float, default=2.0, help="version polls/s (2)")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second (20)")
    parser.add_argument(
        "--duration",
        type=float,
        default=60.0,
        help=f"stop after this many seconds (60, at most {MAX_DURATION_S:g})",
    )
    parser.add_argument("--max-requests", type=int, default=None, help="stop after N requests")
    parser.add_argument("--mode", choices=MODES, default="keepalive", help="connection reuse")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight, max (4)")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-request timeout s (5)")
    parser.add_argument("--until-file", default=None, help="stop early once this file exists")
    parser.add_argument(
        "--host",
        default=None,
        metavar="HOST",
        help="send this Host header (and TLS server name) instead of the URL's host, e.g. "
        "a site behind an ingress controller (off)",
    )
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    parser.add_argument("--report", default=None, help="write the JSON report here")
    parser.add_argument("--plot", default=None, help="write a PNG timeline here")
    parser.add_argument("--quiet", action="store_true", help="no per-second live lines")
    return parser


def _check_output(what: str, path: str | None) -> None:
    if path is not None and not Path(path).parent.is_dir():
        raise ConfigError(f"{what} directory {Path(path).parent} does not exist")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        config = ProbeConfig(
            url=args.url,
            path=args.path,
            health_path=args.health_path,
            health_rate=args.health_rate,
            rate=args.rate,
            duration=args.duration,
            max_requests=args.max_requests,
            mode=args.mode,
            concurrency=args.concurrency,
            timeout=args.timeout,
            until_file=args.until_file,
            verify_tls=not args.insecure,
            host_header=args.host,
        )
        config.validate()
        _check_output("report", args.report)
        _check_output("plot", args.plot)
        if args.plot is not None and importlib.util.find_spec("matplotlib") is None:
            raise ConfigError("--plot needs matplotlib: pip install 'zdprobe[plot]'")
    except (_UsageError, ConfigError) as exc:
        print(f"zdprobe: error: {exc} (see --help)", file=sys.stderr)
        return EXIT_USAGE

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        report = run(config, stop=stop, on_line=_stderr, live=not args.quiet)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    if args.report:
        report.write_json(args.report)
    if args.plot:
        from zdprobe.plot import plot_report

        plot_report(report, args.plot)
    lines = report.text_summary()
    for line in lines if not args.quiet else lines[:1]:
        print(line, flush=True)
    return report.exit_code
