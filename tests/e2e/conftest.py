"""Fixtures for end-to-end tests on the local cluster (make cluster-up).

Without a cluster these tests skip on a workstation and FAIL under CI=true: a
missing prerequisite must never pass silently.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from zdprobe import ProbeConfig, ProbeInBackground, Report

REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("ZDK_STATE_DIR", "/var/lib/fastapi-zdk"))
KUBECONFIG = STATE_DIR / "kubeconfig"
KUBECTL = STATE_DIR / "kubectl"
REGISTRY = "127.0.0.1:5000"


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail under CI, when a prerequisite is missing."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"prerequisite missing under CI: {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    kubectl: Path

    def kubectl_run(
        self, *args: str, check: bool = True, timeout: float = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    require(KUBECONFIG.exists() and KUBECTL.exists(), "no local cluster (run: make cluster-up)")
    found = Cluster(KUBECONFIG, KUBECTL)
    ready = found.kubectl_run("get", "--raw", "/readyz", check=False, timeout=10)
    require(ready.returncode == 0, f"local cluster not answering: {ready.stderr.strip()}")
    return found


def podman(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run podman with the repository's private configuration."""
    command = f'source "{REPO}/scripts/podman-env.sh" && podman "$@"'
    return subprocess.run(
        ["bash", "-c", command, "podman", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


@contextmanager
def probing(url: str, rate: float = 20, health: bool = True) -> Iterator[dict[str, Report]]:
    """Probe `url` with keep-alive clients and with a fresh connection per request at
    once, while the block runs; the dict holds both reports ("keepalive", "fresh") after it.
    Each probe is bounded (15 min) and sends only to the given loopback URL."""
    reports: dict[str, Report] = {}
    configs = {
        mode: ProbeConfig(
            url=url,
            path="/endpoint",
            health_path="/health" if health and mode == "keepalive" else None,
            rate=rate,
            duration=900,
            mode=mode,
        )
        for mode in ("keepalive", "fresh")
    }
    with (
        ProbeInBackground(configs["keepalive"]) as keepalive,
        ProbeInBackground(configs["fresh"]) as fresh,
    ):
        yield reports
        reports["keepalive"] = keepalive.stop()
        reports["fresh"] = fresh.stop()


def describe(reports: dict[str, Report]) -> str:
    return "; ".join(f"{mode}: {r.sent} sent, {r.failed} failed" for mode, r in reports.items())
