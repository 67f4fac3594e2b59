"""A real gunicorn master with 2 uvicorn workers (`-c python:fastapi_zdk.gunicorn_conf`)
receives a real SIGTERM: the master forwards it, both workers drain, a request in flight
completes, one that outlasts graceful_timeout (from the environment) is cut, and the
master exits 0."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from zdk_support import Proc, get, gunicorn, raw_get

pytestmark = pytest.mark.component

DRAIN = 1
GRACEFUL = 3  # gunicorn's graceful_timeout = DRAIN + GRACEFUL = 4 s (default 25 s)
SLOW = 2.5  # completes within the graceful window
STUCK = 30  # outlasts it: its worker is killed at graceful_timeout


@dataclass
class Run:
    server: Proc
    worker_pids: set[int] = field(default_factory=set)
    sigterm_at: float = 0.0
    idle_after_sigterm: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    ready_during_drain: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    answers: dict[str, tuple[int, bytes] | str] = field(default_factory=dict)
    done_at: dict[str, float] = field(default_factory=dict)
    returncode: int | None = None
    exit_after: float = 0.0
    log: str = ""


def ready_workers(log: str) -> set[int]:
    return {int(pid) for pid in re.findall(r"\[(\d+)\] lifecycle phase=ready", log)}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    server = gunicorn("zdk_sample_app:app", log_path, WEB_CONCURRENCY="2",
                      APP_DRAIN_SECONDS=str(DRAIN), UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=str(GRACEFUL),
                      APP_WARMUP_SECONDS="0.2")  # fmt: skip
    try:
        yield shut_down(server)
    finally:
        server.stop()


def shut_down(server: Proc) -> Run:
    result = Run(server)
    deadline = time.monotonic() + 30
    while len(ready_workers(server.log())) < 2:
        assert server.proc.poll() is None, server.log()
        assert time.monotonic() < deadline, f"2 workers not ready:\n{server.log()}"
        time.sleep(0.05)
    result.worker_pids = ready_workers(server.log())
    server.wait_ready()

    # Idle keep-alive connections, spread over the workers by the kernel's accept race.
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(6)]
    for sock in idle:
        assert raw_get(sock, "/health/live")[0] == 200

    def request(name: str, seconds: float) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            connection.request("GET", f"/slow?seconds={seconds}")
            response = connection.getresponse()
            result.answers[name] = (response.status, response.read())
        except (OSError, http.client.HTTPException) as exc:
            result.answers[name] = type(exc).__name__
        finally:
            result.done_at[name] = time.monotonic()
            connection.close()

    threads = [
        threading.Thread(target=request, args=("slow", SLOW), daemon=True),
        threading.Thread(target=request, args=("stuck", STUCK), daemon=True),
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # both requests arrived (a worker answers /slow at once otherwise)

    result.sigterm_at = time.monotonic()
    server.sigterm()
    while len(re.findall(r"phase=draining reason=SIGTERM", server.log())) < 2:
        assert time.monotonic() - result.sigterm_at < 5, server.log()  # the master forwards it
        time.sleep(0.02)
    for sock in idle:
        result.idle_after_sigterm.append(raw_get(sock, "/endpoint"))
        sock.close()
    for _ in range(6):
        result.ready_during_drain.append(get(server.port, "/health/ready"))

    for thread in threads:
        thread.join(DRAIN + GRACEFUL + 10)
    try:
        result.returncode = server.proc.wait(DRAIN + GRACEFUL + 10)
    except subprocess.TimeoutExpired:
        result.returncode = None
    result.exit_after = time.monotonic() - result.sigterm_at
    result.log = server.log()
    return result


def test_two_workers_with_the_lifecycle(run: Run) -> None:
    assert len(run.worker_pids) == 2, run.log
    assert run.log.count("sigterm_handler=chained") == 2


def test_both_workers_drain(run: Run) -> None:
    drained = {int(pid) for pid in re.findall(r"\[(\d+)\] lifecycle phase=draining reason=SIGTERM",
                                              run.log)}  # fmt: skip
    assert drained == run.worker_pids, run.log
    handed_over = set(map(int, re.findall(r"\[(\d+)\] lifecycle phase=shutdown", run.log)))
    assert handed_over == run.worker_pids


def test_every_answer_during_the_drain_closes(run: Run) -> None:
    for _, headers in run.idle_after_sigterm + run.ready_during_drain:
        assert headers["connection"] == "close", run.log
    assert {status for status, _ in run.idle_after_sigterm} == {200}
    assert {status for status, _ in run.ready_during_drain} == {503}  # new connections too


def test_in_flight_request_completes(run: Run) -> None:
    assert run.answers["slow"] == (200, b'{"slept":2.5}'), run.log
    assert run.done_at["slow"] > run.sigterm_at


def test_graceful_timeout_from_the_environment(run: Run) -> None:
    """The stuck request's worker is killed at DRAIN + GRACEFUL, not gunicorn's 25 s."""
    assert isinstance(run.answers["stuck"], str), run.answers  # cut: no response
    assert run.done_at["stuck"] - run.sigterm_at < DRAIN + GRACEFUL + 3
    assert run.log.count("lifecycle phase=stopped") == 1  # the other worker was killed


def test_master_exits_0(run: Run) -> None:
    assert run.returncode == 0, run.log
    assert DRAIN + GRACEFUL <= run.exit_after < DRAIN + GRACEFUL + 5
    assert "Shutting down: Master" in run.log
    assert "Control socket" not in run.log  # disabled by the configuration
    assert f"Listening at: http://127.0.0.1:{run.server.port}" in run.log  # from the env
    assert "Traceback" not in run.log
