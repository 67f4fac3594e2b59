"""A real `uvicorn fastapi_app.main:app` process receives a real SIGTERM.

One run (module fixture) with a 3 s request in flight and an idle keep-alive
connection; each test checks one promise of the shutdown timeline.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from conftest import Server
from zdk_support import closed_by_peer, raw_get

pytestmark = pytest.mark.component

DRAIN = 2.0
GRACEFUL = 10
SLOW = 3.0


@dataclass
class Run:
    server: Server
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


def in_flight(server: Server) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    match = re.search(r"^http_requests_in_flight (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.fixture(scope="module")
def run(start_server: Callable[..., Server]) -> Run:
    server = start_server(
        graceful=GRACEFUL,
        APP_DRAIN_SECONDS=str(DRAIN),
        APP_WARMUP_SECONDS="0.3",
        APP_SLOW_MAX_SECONDS="10",
    )
    server.wait_ready()
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
    while in_flight(server) < 2:  # the slow request + this /metrics request
        assert time.monotonic() < deadline, "the slow request never arrived"
        time.sleep(0.05)

    result.sigterm_at = time.monotonic()
    server.sigterm()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as fresh:
        result.ready_after_sigterm = raw_get(fresh, "/health/ready")
    result.idle_after_sigterm = raw_get(idle, "/endpoint")
    result.idle_closed_by_server = closed_by_peer(idle)
    idle.close()
    time.sleep(max(0.0, result.sigterm_at + DRAIN / 2 - time.monotonic()))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as late:
        result.new_connection_during_drain = raw_get(late, "/endpoint")

    slow.join(SLOW + GRACEFUL + 5)
    try:
        result.returncode = server.proc.wait(DRAIN + GRACEFUL + 5)
    except TimeoutError:
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
    assert run.slow_body == b'{"slept":3.0}'
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


def test_exits_0_within_bound(run: Run) -> None:
    assert run.returncode == 0, run.log
    # Not before the drain is over (and the slow request done), well before the bound.
    assert run.exit_after >= DRAIN
    assert run.exit_after < DRAIN + GRACEFUL


def test_connections_refused_after_exit(run: Run) -> None:
    assert run.refused_after_exit


def test_phases_logged_once_each_in_order(run: Run) -> None:
    phases = re.findall(r"lifecycle phase=(\w+)", run.log)
    assert phases == ["starting", "warming", "ready", "draining", "shutdown", "stopped"], run.log
    assert "phase=draining reason=SIGTERM" in run.log
    assert "Traceback" not in run.log


def test_invalid_setting_stops_start_up_with_one_line(start_server: Callable[..., Server]) -> None:
    server = start_server(APP_DRAIN_SECONDS="-1", DATABASE_URL="postgresql://u:s3cret@h:x/db")
    assert server.proc.wait(30) == 1
    log = server.log()
    errors = [line for line in log.splitlines() if line.startswith("fastapi_app:")]
    assert len(errors) == 1, log
    assert "APP_DRAIN_SECONDS" in errors[0]
    assert "DATABASE_URL" in errors[0]
    assert "s3cret" not in log
    assert "Traceback" not in log
