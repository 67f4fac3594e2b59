"""The probe against real servers on 127.0.0.1: uvicorn subprocesses and a raw socket server.

Every run is bounded by its own --duration / --max-requests, and every subprocess by a timeout.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from zdprobe import ProbeConfig, ProbeInBackground, run

from .conftest import AppFactory
from .servers import REPO, ClosingServer, probe_env

pytestmark = pytest.mark.component

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def zdprobe(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zdprobe", *args],
        env=probe_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "zdprobe", *args],
        env=probe_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_healthy_server_passes(app_server: AppFactory, tmp_path: Path) -> None:
    server = app_server("0.0.1")
    report_file, plot_file = tmp_path / "report.json", tmp_path / "timeline.png"
    started = time.monotonic()
    done = zdprobe(
        server.url,
        *("--rate", "50", "--duration", "2", "--report", str(report_file)),
        *("--plot", str(plot_file)),
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"zdprobe {server.url} mode=keepalive: PASS: 100/100")
    live = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert len(live) >= 1
    assert "Serving version 0.0.1" in done.stderr

    report = load(report_file)
    assert report["counts"] == {"sent": 100, "ok": 100, "failed": 0, "unsent": 0}
    assert report["status"] == {"200": 100}
    assert report["errors"] == {}
    assert report["stop_reason"] == "duration"
    assert 1.9 <= report["elapsed_s"] < 4.0
    assert took < 15
    lat = report["latency_ms"]["ok"]
    assert lat["count"] == 100
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"] < 2000
    assert sum(row["sent"] for row in report["seconds"]) == 100
    assert [row["version"] for row in report["versions"]["timeline"]] == ["0.0.1"]
    assert report["versions"]["timeline"][0]["pods"] == ["test-pod"]
    assert plot_file.read_bytes().startswith(PNG_MAGIC)


def test_max_requests_and_second_path(app_server: AppFactory) -> None:
    server = app_server("0.0.1")
    config = ProbeConfig(
        url=server.url,
        path="/endpoint",
        health_path="/health",
        health_rate=10,
        rate=100,
        duration=10,
        max_requests=40,
    )
    report = run(config)
    assert report.exit_code == 0
    assert report.sent == 40
    assert report.stop_reason == "max_requests"
    assert report.elapsed_s < 5
    summary = report.summary()
    assert set(summary["by_path"]) == {"/endpoint", "/health"}
    # /endpoint answers {"Hello": ...} without a version: the timeline comes from /health
    assert summary["versions"]["unversioned"] == summary["by_path"]["/endpoint"]["sent"]
    assert report.versions_in_order() == ["0.0.1"]


def test_killed_server_fails_with_connect_refused(app_server: AppFactory) -> None:
    server = app_server("0.0.1")
    lines: list[str] = []
    config = ProbeConfig(url=server.url, rate=50, duration=3, timeout=2)
    with ProbeInBackground(config, on_line=lines.append, stop_on_exit=False) as probe:
        time.sleep(1.0)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(5)
    report = probe.report
    summary = report.summary()
    assert report.exit_code == 1
    # about 1 s of answers, then about 2 s of refusals (bounds loose for a busy machine)
    assert report.ok >= 10
    assert summary["errors"].get("connect_refused", 0) >= 20
    assert set(summary["errors"]) <= {"connect_refused", "server_disconnected", "reset"}
    # every request before the kill succeeded, every one after it failed (requests in
    # flight at the kill, started within 0.1 s of the first failure, may go either way)
    first_failure = min(r.start for r in report.results if not r.ok)
    assert all(r.ok for r in report.results if r.start < first_failure - 0.1)
    assert not any(r.ok for r in report.results if r.start > first_failure + 0.1)
    assert summary["verdict"].startswith("FAIL")
    assert any(line.startswith("Failure at") and "connect_refused" in line for line in lines)


def test_503_answers_are_failures(app_server: AppFactory, tmp_path: Path) -> None:
    server = app_server("0.0.1", fail_every="5")
    report_file = tmp_path / "report.json"
    done = zdprobe(
        server.url, *("--rate", "40", "--duration", "5", "--max-requests", "50", "--quiet"),
        *("--report", str(report_file)),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "FAIL: 10/50 requests failed (503 10)" in done.stdout
    assert not [line for line in done.stderr.splitlines() if line.startswith("[")]  # --quiet
    report = load(report_file)
    assert report["status"] == {"200": 40, "503": 10}
    assert report["counts"]["failed"] == 10
    assert len(report["failures"]["items"]) == 10
    assert all(item["status"] == 503 for item in report["failures"]["items"])


def test_version_change_is_announced(app_server: AppFactory, tmp_path: Path) -> None:
    """Version 0.0.1 hands its listening socket over to 0.0.2: no gap, one announced change."""
    old = app_server("0.0.1", keep_socket=True)
    until, report_file = tmp_path / "rollout-done", tmp_path / "report.json"
    probe = spawn(
        old.url, *("--mode", "fresh", "--rate", "40", "--duration", "20"),
        *("--until-file", str(until), "--report", str(report_file)),
    )  # fmt: skip
    try:
        time.sleep(1.0)
        app_server("0.0.2", share=old)  # both accept on the same socket
        # uvicorn's graceful shutdown; it re-raises the signal once done, hence -15
        assert old.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
        time.sleep(1.0)
        until.touch()
        out, err = probe.communicate(timeout=20)
    finally:
        if probe.poll() is None:
            probe.kill()
            probe.communicate()
    assert "Version updated from 0.0.1 to 0.0.2" in err
    report = load(report_file)
    assert report["stop_reason"] == "until_file"
    assert report["elapsed_s"] < 15
    transitions = report["versions"]["transitions"]
    assert [(t["from"], t["to"]) for t in transitions] == [("0.0.1", "0.0.2")]
    timeline = {row["version"]: row for row in report["versions"]["timeline"]}
    assert timeline["0.0.1"]["first_seen_s"] < timeline["0.0.2"]["first_seen_s"]
    assert timeline["0.0.1"]["last_seen_s"] <= transitions[0]["at_s"] + 5
    assert probe.returncode == 0, (report["errors"], out)


def test_keepalive_mode_catches_dropped_pooled_connections(
    closing_server: ClosingServer,
) -> None:
    """Each reused keep-alive connection is dropped: keepalive mode sees it, fresh mode not."""
    base = {"url": closing_server.url, "rate": 40.0, "duration": 5.0, "max_requests": 20}
    keepalive = run(ProbeConfig(**base, mode="keepalive", concurrency=1))  # type: ignore[arg-type]
    fresh = run(ProbeConfig(**base, mode="fresh", concurrency=1))  # type: ignore[arg-type]

    assert fresh.exit_code == 0, fresh.summary()["errors"]
    assert fresh.ok == 20
    errors = keepalive.summary()["errors"]
    assert keepalive.exit_code == 1
    # requests alternate: new connection (answered), reuse (dropped), new connection, ...
    assert keepalive.failed == 10, errors
    expected = (
        "reset" if closing_server.url and "rst" in closing_server.mode else "server_disconnected"
    )
    assert set(errors) == {expected}


def test_fresh_mode_opens_one_connection_per_request(app_server: AppFactory) -> None:
    server = app_server("0.0.1", pod="client-port")  # the app answers with the client's port
    keepalive = run(
        ProbeConfig(url=server.url, rate=50, duration=5, max_requests=20, concurrency=1)
    )
    fresh = run(ProbeConfig(url=server.url, rate=50, duration=5, max_requests=20, mode="fresh"))
    assert keepalive.exit_code == fresh.exit_code == 0
    assert len({r.pod for r in keepalive.results}) == 1
    assert len({r.pod for r in fresh.results}) == 20


def test_background_probe_stops_with_the_block(app_server: AppFactory) -> None:
    server = app_server("0.0.1")
    started = time.monotonic()
    with ProbeInBackground(ProbeConfig(url=server.url, rate=20, duration=60)) as probe:
        assert probe.running
        time.sleep(0.6)
    assert time.monotonic() - started < 5
    assert not probe.running
    assert probe.report.stop_reason == "stopped"
    assert probe.report.exit_code == 0
    assert 1 <= probe.report.sent <= 30  # about 12 (0.6 s at 20/s)


def test_sigterm_ends_the_cli_early_with_a_report(app_server: AppFactory, tmp_path: Path) -> None:
    server = app_server("0.0.1")
    report_file = tmp_path / "report.json"
    probe = spawn(server.url, "--duration", "20", "--quiet", "--report", str(report_file))
    try:
        assert probe.stderr is not None
        # the first event line means the signal handlers are in place and traffic flows
        assert "Serving version 0.0.1" in probe.stderr.readline()
        probe.send_signal(signal.SIGTERM)
        out, _ = probe.communicate(timeout=15)
    finally:
        if probe.poll() is None:
            probe.kill()
            probe.communicate()
    assert probe.returncode == 0, out
    assert load(report_file)["stop_reason"] == "stopped"


def test_bad_usage_via_python_m_is_one_line() -> None:
    done = zdprobe("http://127.0.0.1:1", "--rate", "0", timeout=30)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("zdprobe: error: rate must be greater than 0")
