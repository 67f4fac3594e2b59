"""Real uvicorn processes serving an app with the lifecycle receive a real SIGTERM.

One run (module fixture) with a slow request in flight and an idle keep-alive
connection; each test checks one promise of the shutdown timeline.
"""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from zdk_support import Proc, closed_by_peer, get, process_env, raw_get, uvicorn

pytestmark = pytest.mark.component

DRAIN = 1.5
GRACEFUL = 10
SLOW = 2.5


@dataclass
class Run:
    server: Proc
    sigterm_at: float = 0.0
    first_idle_headers: dict[str, str] = field(default_factory=dict)
    ready_after_sigterm: tuple[int, dict[str, str]] = (0, {})
    idle_after_sigterm: tuple[int, dict[str, str]] = (0, {})
    idle_closed_by_server: bool = False
    new_connection_during_drain: tuple[int, dict[str, str]] = (0, {})
    slow_status: int = 0
    slow_body: bytes = b""
    slow_done_at: float = 0.0
    returncode: int | None = None
    exit_after: float = 0.0
    refused_after_exit: bool = False
    log: str = ""


def in_flight(port: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    match = re.search(r"^http_requests_in_flight (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    log_path = tmp_path_factory.mktemp("uvicorn") / "uvicorn.log"
    server = uvicorn("zdk_sample_app:app", log_path, graceful=GRACEFUL,
                     APP_DRAIN_SECONDS=str(DRAIN), APP_WARMUP_SECONDS="0.3")  # fmt: skip
    try:
        server.wait_ready()
        yield shut_down(server)
    finally:
        server.stop()


def shut_down(server: Proc) -> Run:
    result = Run(server)
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    status, result.first_idle_headers = raw_get(idle, "/endpoint")
    assert status == 200

    def slow_request() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            connection.request("GET", f"/slow?seconds={SLOW}")
            response = connection.getresponse()
            result.slow_status, result.slow_body = response.status, response.read()
        finally:
            result.slow_done_at = time.monotonic()
            connection.close()

    slow = threading.Thread(target=slow_request, daemon=True)
    slow.start()
    deadline = time.monotonic() + 10
    while in_flight(server.port) < 2:  # the slow request + this /metrics request
        assert time.monotonic() < deadline, "the slow request never arrived"
        time.sleep(0.05)

    result.sigterm_at = time.monotonic()
    server.sigterm()
    result.ready_after_sigterm = get(server.port, "/health/ready")
    result.idle_after_sigterm = raw_get(idle, "/endpoint")
    result.idle_closed_by_server = closed_by_peer(idle)
    idle.close()
    time.sleep(max(0.0, result.sigterm_at + DRAIN / 2 - time.monotonic()))
    result.new_connection_during_drain = get(server.port, "/endpoint")

    slow.join(SLOW + GRACEFUL + 5)
    try:
        result.returncode = server.proc.wait(DRAIN + GRACEFUL + 5)
    except subprocess.TimeoutExpired:
        result.returncode = None
    result.exit_after = time.monotonic() - result.sigterm_at
    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    except ConnectionRefusedError:
        result.refused_after_exit = True
    result.log = server.log()
    return result


def test_in_flight_request_completes(run: Run) -> None:
    assert run.slow_status == 200, run.log
    assert run.slow_body == b'{"slept":2.5}'
    assert run.slow_done_at > run.sigterm_at


def test_ready_503_right_after_sigterm(run: Run) -> None:
    status, headers = run.ready_after_sigterm
    assert status == 503, run.log
    assert headers["connection"] == "close"


def test_idle_keep_alive_connection_gets_connection_close(run: Run) -> None:
    assert "connection" not in run.first_idle_headers  # kept alive before SIGTERM
    status, headers = run.idle_after_sigterm
    assert status == 200
    assert headers["connection"] == "close"
    assert run.idle_closed_by_server


def test_new_connections_accepted_while_draining(run: Run) -> None:
    status, headers = run.new_connection_during_drain
    assert status == 200
    assert headers["connection"] == "close"


def test_exits_0_after_the_drain(run: Run) -> None:
    assert run.returncode == 0, run.log
    # Not before the drain is over (and the slow request done), well before the bound.
    assert run.exit_after >= DRAIN
    assert run.exit_after < DRAIN + GRACEFUL
    assert run.refused_after_exit


def test_phases_logged_once_each_in_order(run: Run) -> None:
    phases = re.findall(r"lifecycle phase=(\w+)", run.log)
    assert phases == ["starting", "ready", "draining", "shutdown", "stopped"], run.log
    assert "phase=draining reason=SIGTERM drain=1.5s in_flight=1" in run.log
    assert "sigterm_handler=chained" in run.log
    assert "Traceback" not in run.log


def test_second_sigterm_hands_over_at_once(tmp_path: Path) -> None:
    """Also: a bare ASGI app without lifespan support, wrapped, under `--lifespan on`."""
    server = uvicorn("zdk_sample_app:bare", tmp_path / "bare.log", options=["--lifespan", "on"],
                     APP_DRAIN_SECONDS="30")  # fmt: skip
    try:
        server.wait_ready()
        server.sigterm()
        deadline = time.monotonic() + 5
        while get(server.port, "/health/ready")[0] != 503:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.02)
        sent = time.monotonic()
        server.sigterm()
        assert server.proc.wait(10) == 0, server.log()
        assert time.monotonic() - sent < 5  # not the 30 s drain
        log = server.log()
        assert "second SIGTERM: shutting down now" in log
        assert "without lifespan support" in log
        assert "Traceback" not in log
    finally:
        server.stop()


def test_default_handler_is_re_raised_without_a_server(tmp_path: Path) -> None:
    """No server handler before the lifecycle's (SIG_DFL): after the drain the process
    dies of SIGTERM, as it would have without the lifecycle."""
    script = """
import asyncio, signal, sys
from fastapi_zdk import LifecycleSettings, wrap

async def app(scope, receive, send):
    raise RuntimeError("no lifespan")

async def main():
    middleware = wrap(app, LifecycleSettings(pod="p", drain_seconds=0.2))
    queue = asyncio.Queue()
    async def send(message):
        print(message["type"], flush=True)
    asyncio.create_task(middleware({"type": "lifespan"}, queue.get, send))
    await queue.put({"type": "lifespan.startup"})
    await asyncio.sleep(0.1)
    signal.raise_signal(signal.SIGTERM)
    await asyncio.sleep(5)
    sys.exit(3)  # not reached: SIGTERM's default action ends the process

asyncio.run(main())
"""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script], env=process_env(), capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == -15, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["lifespan.startup.complete"]
    assert "phase=draining reason=SIGTERM drain=0.2s" in result.stderr
    assert time.monotonic() - started < 5
