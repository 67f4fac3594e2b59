"""Negative control: the same probe on a deliberately naive configuration MUST
see failed requests during a rollout. If it did not, the zero-failure results
of test_deploy.py would prove nothing about the harness.

Naive = charts/fastapi-app/ci/naive-values.yaml: no preStop, no drain, no
readiness or startup probe, maxUnavailable 1, with keep-alive clients.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from zdprobe import ProbeConfig, ProbeInBackground

from .conftest import REPO, Cluster
from .test_deploy import URL, deploy, greeting

pytestmark = pytest.mark.e2e

NAIVE_VALUES = yaml.safe_load((REPO / "charts/fastapi-app/ci/naive-values.yaml").read_text())


def values(greeting_text: str, naive: bool) -> tuple[str, str]:
    extra = {**(NAIVE_VALUES if naive else {}), "app": {"greeting": greeting_text}}
    return ("-e", json.dumps({"zdk_extra_values": extra}))


def test_naive_configuration_drops_requests(cluster: Cluster, tmp_path: Path) -> None:
    # Old pods terminate the way *their* spec says: first replace the safe pods
    # with naive ones (unprobed), then roll the naive ones under the probe.
    setup = deploy("0.0.2", *values("Naive-1", naive=True))
    assert setup.returncode == 0, setup.stdout[-3000:]

    config = ProbeConfig(url=URL, path="/endpoint", rate=50, duration=600, mode="keepalive")
    try:
        with ProbeInBackground(config) as probe:
            deploy("0.0.2", *values("Naive-2", naive=True))
            report = probe.stop()
        report.write_json(tmp_path / "negative-control.json")
        print(f"negative control: {report.sent} sent, {report.failed} failed")
        assert greeting() == "Naive-2", "the naive rollout did not happen"
        assert report.failed > 0, (
            "the harness saw no failure on a naive rollout: it cannot see downtime"
        )
    finally:
        # Back to the safe configuration for whatever runs next.
        restore = deploy("0.0.2", *values("Universe", naive=False))
        assert restore.returncode == 0, restore.stdout[-3000:]
