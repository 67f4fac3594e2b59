"""Pure unit tests of the probe: no server, no network."""

from __future__ import annotations

import importlib.util
import json
import ssl
from pathlib import Path
from typing import Any

import pytest
from zdprobe import ConfigError, ProbeConfig, Report, Result
from zdprobe import errors as e
from zdprobe.cli import main
from zdprobe.client import Response
from zdprobe.engine import identify
from zdprobe.errors import classify
from zdprobe.plot import plot_report
from zdprobe.report import percentile
from zdprobe.versions import VersionTracker

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _raised_from(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_raised_from(e.ConnectError("x"), ConnectionRefusedError(111, "")), "connect_refused"),
        (e.ConnectError("[Errno 111] Connection refused"), "connect_refused"),
        (e.ConnectError("[Errno -2] Name or service not known"), "connect_error"),
        (_raised_from(e.ConnectError("x"), ssl.SSLError("bad cert")), "tls_error"),
        (_raised_from(e.ConnectError("x"), ConnectionResetError(104, "")), "reset"),
        (e.ConnectTimeout("x"), "connect_timeout"),
        (e.ReadTimeout("x"), "read_timeout"),
        (e.WriteTimeout("x"), "write_timeout"),
        (e.PoolTimeout("x"), "pool_timeout"),
        (e.RemoteProtocolError(e.DISCONNECTED_MESSAGE), "server_disconnected"),
        (e.RemoteProtocolError("illegal status line"), "remote_protocol_error"),
        (_raised_from(e.ReadError("x"), ConnectionResetError(104, "")), "reset"),
        (e.ReadError("[Errno 104] Connection reset by peer"), "reset"),
        (_raised_from(e.WriteError("x"), BrokenPipeError(32, "")), "reset"),
        (e.ReadError("x"), "read_error"),
        (e.WriteError("x"), "write_error"),
        (ValueError("x"), "other"),
    ],
)
def test_classify(exc: Exception, kind: str) -> None:
    assert classify(exc) == kind


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([], 50, None),
        ([5.0], 99, 5.0),
        ([1, 2, 3, 4], 50, 2),
        ([float(i) for i in range(1, 101)], 99, 99.0),
    ],
)
def test_percentile_nearest_rank(values: list[float], pct: float, expected: float | None) -> None:
    assert percentile(values, pct) == expected


def test_version_tracker_announces_real_changes_only() -> None:
    tracker = VersionTracker(gone_after=2.0)
    assert tracker.observe(0.0, "0.0.1") == "Serving version 0.0.1"
    assert tracker.observe(0.5, "0.0.1") is None
    assert tracker.observe(1.0, "0.0.2") == "Version updated from 0.0.1 to 0.0.2"
    # a rolling update: old and new pods alternate; counted as flips, not announced
    assert [tracker.observe(1.0 + i / 10, v) for i, v in enumerate(["0.0.1", "0.0.2"] * 3)] == [
        None
    ] * 6
    assert tracker.current(now=1.6) == ["0.0.1", "0.0.2"]
    assert tracker.observe(2.0, "0.0.2") is None
    # 0.0.1 gone for more than 2 s, then back: a rollback is announced
    assert tracker.observe(5.0, "0.0.1") == "Version updated from 0.0.2 to 0.0.1"
    assert [(t.from_, t.to) for t in tracker.transitions] == [
        ("0.0.1", "0.0.2"),
        ("0.0.2", "0.0.1"),
    ]
    assert tracker.flips == 8
    assert tracker.current(now=5.5) == ["0.0.1"]


def _response(body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(
        200, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()
    )


def test_identify_reads_body_then_headers() -> None:
    health = {"status": "ok", "version": "0.0.2", "revision": "abc", "pod": "p-1"}
    assert identify(_response(health)) == ("0.0.2", "abc", "p-1")
    assert identify(_response({"Hello": "World"}, {"X-App-Version": "0.0.3"})) == (
        "0.0.3",
        None,
        None,
    )
    assert identify(_response({"Hello": "World"})) == (None, None, None)
    html = Response(502, {"content-type": "text/html"}, b"<html>bad gateway</html>")
    assert identify(html) == (None, None, None)
    assert identify(_response(["not", "a", "dict"])) == (None, None, None)
    assert identify(_response({"revision": "r7"})) == ("r7", "r7", None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "not-a-url"}, "scheme"),
        ({"url": "ftp://127.0.0.1/"}, "scheme"),
        ({"url": "http://"}, "no host"),
        ({"url": "http://127.0.0.1:99999"}, "invalid URL"),
        ({"url": "http://127.0.0.1/?a=1"}, "query"),
        ({"path": "health"}, "path"),
        ({"rate": 0}, "rate"),
        ({"rate": -1}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"duration": 0}, "duration"),
        ({"duration": 3601}, "duration"),
        ({"timeout": 0}, "timeout"),
        ({"concurrency": 0}, "concurrency"),
        ({"max_requests": 0}, "max requests"),
        ({"mode": "sometimes"}, "mode"),
        ({"host_header": ""}, "host header"),
        ({"host_header": "fastapi app.local"}, "host header"),
        ({"host_header": "site.local\r\nX-Injected: 1"}, "host header"),
        ({"host_header": "site.local/path"}, "host header"),
        ({"host_header": "user@site.local"}, "host header"),
        ({"host_header": "sité.local"}, "host header"),
        ({"host_header": "s" * 256}, "host header"),
    ],
)
def test_config_rejects(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"url": "http://127.0.0.1:8000", **changes}
    with pytest.raises(ConfigError, match=message):
        ProbeConfig(**values).validate()  # type: ignore[arg-type]


def test_config_until_file_must_not_exist(tmp_path: Path) -> None:
    (tmp_path / "done").touch()
    with pytest.raises(ConfigError, match="already exists"):
        ProbeConfig(url="http://127.0.0.1:1", until_file=str(tmp_path / "done")).validate()


def test_config_host_header() -> None:
    assert ProbeConfig(url="http://127.0.0.1:1").host_header is None
    for host in ("fastapi-app.local", "site.local:8080", "127.0.0.1", "[::1]:80"):
        ProbeConfig(url="http://127.0.0.1:30090", host_header=host).validate()


def test_config_target_and_budget() -> None:
    config = ProbeConfig(url="https://example.test/api/", path="/health", rate=10, duration=3)
    config.validate()
    assert config.target("/health") == "https://example.test/api/health"
    assert config.request_budget == 31
    assert ProbeConfig(url="http://h", max_requests=5).request_budget == 5


def _synthetic_report() -> Report:
    results = []
    for i in range(60):
        t = i / 20
        failed = 20 <= i < 24
        results.append(
            Result(
                seq=i,
                path="/health",
                scheduled=t,
                start=t + 0.001,
                latency_ms=2.0 + (i % 10),
                status=None if failed else 200,
                error="connect_refused" if failed else None,
                version=None if failed else ("0.0.1" if i < 20 else "0.0.2"),
            )
        )
    return Report(
        config=ProbeConfig(url="http://127.0.0.1:8000", rate=20, duration=3),
        results=results,
        started_at=1_700_000_000.0,
        elapsed_s=3.0,
        stop_reason="duration",
    )


def test_report_summary() -> None:
    report = _synthetic_report()
    summary = json.loads(report.to_json())
    assert summary["counts"] == {"sent": 60, "ok": 56, "failed": 4, "unsent": 0}
    assert summary["errors"] == {"connect_refused": 4}
    assert summary["status"] == {"200": 56}
    assert not summary["passed"]
    assert report.exit_code == 1
    assert summary["verdict"] == "FAIL: 4/60 requests failed (connect_refused 4)"
    assert summary["failures"]["first_s"] == 1.001
    assert summary["failures"]["count"] == 4
    assert len(summary["seconds"]) == 3
    assert summary["seconds"][1]["failed"] == 4
    assert summary["seconds"][1]["versions"] == {"0.0.2": 16}
    lat = summary["latency_ms"]["ok"]
    assert lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"] == 11.0
    timeline = summary["versions"]["timeline"]
    assert [row["version"] for row in timeline] == ["0.0.1", "0.0.2"]
    assert timeline[0]["count"] == 20
    assert timeline[0]["first_seen_at"].startswith("2023-11-14T22:13:20")


def test_empty_report_fails() -> None:
    report = Report(
        config=ProbeConfig(url="http://127.0.0.1:8000"),
        results=[],
        started_at=0.0,
        elapsed_s=0.1,
        stop_reason="until_file",
    )
    assert report.exit_code == 1
    assert report.verdict == "FAIL: no request was sent"
    assert json.loads(report.to_json())["latency_ms"]["ok"]["p99"] is None


def test_plot_without_matplotlib_is_bad_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "matplotlib" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert main(["http://127.0.0.1:1", "--plot", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert (
        err == "zdprobe: error: --plot needs matplotlib: pip install 'zdprobe[plot]' (see --help)\n"
    )


def test_plot_is_png(tmp_path: Path) -> None:
    out = tmp_path / "timeline.png"
    plot_report(_synthetic_report(), out)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["not-a-url"],
        ["http://127.0.0.1:1", "--rate", "0"],
        ["http://127.0.0.1:1", "--rate", "fast"],
        ["http://127.0.0.1:1", "--duration", "0"],
        ["http://127.0.0.1:1", "--duration", "3601"],
        ["http://127.0.0.1:1", "--mode", "sometimes"],
        ["http://127.0.0.1:1", "--concurrency", "0"],
        ["http://127.0.0.1:1", "--bogus"],
        ["http://127.0.0.1:1", "--report", "/nonexistent-dir/r.json"],
        ["http://127.0.0.1:1", "--host", "two words"],
        ["http://127.0.0.1:1", "--host"],
    ],
)
def test_cli_bad_usage_is_one_line_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("zdprobe: error: ")
