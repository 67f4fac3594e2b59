"""Negative control: the same probe on a deliberately naive configuration MUST
see failed requests during a rollout. If it did not, the zero-failure results
of test_deploy.py would prove nothing about the harness.

Naive = charts/fastapi-app/ci/naive-values.yaml: no preStop, no drain, no
readiness or startup probe, maxUnavailable 1, with keep-alive clients.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, Cluster, describe, probing
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

    try:
        with probing(URL, rate=30, health=False) as reports:
            deploy("0.0.2", *values("Naive-2", naive=True))
            time.sleep(3)
        for mode, report in reports.items():
            report.write_json(tmp_path / f"negative-control-{mode}.json")
        print(f"negative control: {describe(reports)}")
        assert greeting() == "Naive-2", "the naive rollout did not happen"
        assert sum(r.failed for r in reports.values()) > 0, (
            "no failure seen on a naive rollout: the harness is blind"
        )
    finally:
        # Back to the safe configuration for whatever runs next.
        restore = deploy("0.0.2", *values("Universe", naive=False))
        assert restore.returncode == 0, restore.stdout[-3000:]
