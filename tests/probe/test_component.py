"""The probe against real servers on 127.0.0.1: uvicorn subprocesses and a raw socket server.

Every run is bounded by its own --duration / --max-requests, and every subprocess by a timeout.
The command line runs as installed (the ``zdprobe`` script next to this Python), except in the
test of ``python -m zdprobe``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from zdprobe import ProbeConfig, ProbeInBackground, run

from .conftest import AppFactory, RawFactory
from .servers import REPO, ClosingServer, probe_env

pytestmark = pytest.mark.component

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ZDPROBE = [str(Path(sys.executable).parent / "zdprobe")]
PYTHON_M_ZDPROBE = [sys.executable, "-m", "zdprobe"]
SITE = "fastapi-app.local"


def zdprobe(
    *args: str, timeout: float = 30.0, command: list[str] = ZDPROBE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args],
        env=probe_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*ZDPROBE, *args],
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
    done = zdprobe("http://127.0.0.1:1", "--rate", "0", timeout=30, command=PYTHON_M_ZDPROBE)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("zdprobe: error: rate must be greater than 0")


def test_host_header_on_every_request(app_server: AppFactory, tmp_path: Path) -> None:
    """Like an ingress controller, the server answers only for its site and echoes the Host."""
    server = app_server("0.0.1", pod="host", site=SITE)
    config = ProbeConfig(
        url=server.url,
        path="/health",
        health_path="/health?poll=1",
        health_rate=10,
        rate=50,
        duration=5,
        max_requests=60,
        host_header=SITE,
    )
    for mode in ("keepalive", "fresh"):
        report = run(replace(config, mode=mode))
        assert report.exit_code == 0, report.summary()["status"]
        assert report.sent == 60
        by_path = report.summary()["by_path"]
        assert set(by_path) == {"/health", "/health?poll=1"}
        assert by_path["/health?poll=1"]["ok"] >= 5  # the version poll carries it too
        assert {r.pod for r in report.results} == {SITE}  # what the server saw, per request

    report_file = tmp_path / "report.json"
    done = zdprobe(
        server.url, *("--host", SITE, "--rate", "40", "--max-requests", "20", "--quiet"),
        *("--report", str(report_file)),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert load(report_file)["versions"]["timeline"][0]["pods"] == [SITE]

    without = zdprobe(server.url, "--rate", "40", "--max-requests", "20", "--quiet")
    assert without.returncode == 1
    assert "FAIL: 20/20 requests failed (404 20)" in without.stdout


@pytest.mark.parametrize("mode", ["keepalive", "fresh"])
def test_chunked_and_read_until_close_answers(raw_server: RawFactory, mode: str) -> None:
    """Bodies the probe's HTTP client must frame itself: chunked, and ended by the close."""
    for kind in ("chunked", "eof"):
        server = raw_server(kind)
        report = run(
            ProbeConfig(url=server.url, rate=50, duration=5, max_requests=20, mode=mode)  # type: ignore[arg-type]
        )
        assert report.exit_code == 0, (kind, report.summary()["errors"])
        assert report.ok == 20
        assert report.versions_in_order() == ["0.0.1"]
        assert {r.pod for r in report.results} == {"raw"}


def test_hung_server_is_a_read_timeout(raw_server: RawFactory) -> None:
    server = raw_server("hang")
    started = time.monotonic()
    report = run(ProbeConfig(url=server.url, rate=10, duration=1, timeout=0.5, concurrency=16))
    assert time.monotonic() - started < 5  # 1 s of schedule + 0.5 s timeouts
    assert report.exit_code == 1
    assert report.summary()["errors"] == {"read_timeout": report.sent}
    assert all(450 <= r.latency_ms < 2000 for r in report.results)


def test_host_name_is_looked_up(app_server: AppFactory) -> None:
    """localhost may come first as ::1 (refused here: the server listens on 127.0.0.1)."""
    server = app_server("0.0.1")
    url = f"http://localhost:{server.port}"
    for mode in ("keepalive", "fresh"):
        report = run(ProbeConfig(url=url, rate=50, duration=5, max_requests=10, mode=mode))
        assert report.exit_code == 0, report.summary()["errors"]
        assert report.ok == 10


def test_two_background_probes_at_once(app_server: AppFactory) -> None:
    """As tests/e2e's probing(): keep-alive and fresh probes side by side, each its own loop."""
    server = app_server("0.0.1")
    configs = [
        ProbeConfig(url=server.url, health_path="/health", rate=100, duration=30, mode=mode)
        for mode in ("keepalive", "fresh")
    ]
    with ProbeInBackground(configs[0]) as keepalive, ProbeInBackground(configs[1]) as fresh:
        time.sleep(1.5)
        reports = [keepalive.stop(), fresh.stop()]
    for report in reports:
        assert report.exit_code == 0, report.summary()["errors"]
        assert report.stop_reason == "stopped"
        assert 100 <= report.sent <= 200
        assert report.versions_in_order() == ["0.0.1"]


def test_a_stalled_schedule_still_accounts_for_every_due_request(app_server: AppFactory) -> None:
    """The loop stalls past the end of the run (a slow on_line); the requests that fell due
    meanwhile are still sent late, or counted unsent, never silently dropped."""
    server = app_server("0.0.1")
    stalled: list[str] = []

    def slow_sink(line: str) -> None:
        if line.startswith("[") and not stalled:
            stalled.append(line)
            time.sleep(0.8)  # at 1.0 s of a 1.5 s run: the run's end passes meanwhile

    config = ProbeConfig(url=server.url, rate=100, duration=1.5, concurrency=8)
    report = run(config, on_line=slow_sink, live=True)
    assert stalled
    assert report.stop_reason == "duration"
    assert report.sent + report.unsent == 150
    late = [r for r in report.results if r.scheduled >= 1.0]
    assert late  # sent after the stall, with their lag on record
    assert max(r.start - r.scheduled for r in late) > 0.2
    assert report.exit_code == 0
