"""Negative control: the same probe on a deliberately naive configuration MUST
see failed requests during a rollout. If it did not, the zero-failure results
of test_deploy.py and test_control_plane.py would prove nothing about the harness.

Naive = charts/fastapi-app/ci/naive-values.yaml: no preStop, no drain, no
readiness or startup probe, maxUnavailable 1, with keep-alive clients. The same probes
run through the NodePort and through Traefik (an Ingress): both must see failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import (
    REPO,
    Cluster,
    Target,
    describe,
    make_target,
    merged,
    probing_routes,
    wait_routed,
)

pytestmark = pytest.mark.e2e

NAIVE_VALUES = yaml.safe_load((REPO / "charts/fastapi-app/ci/naive-values.yaml").read_text())
NAIVE_HOST = "naive.zdk-e2e.local"
ROUTED = {
    "ingress": {
        "enabled": True,
        "className": "traefik",
        "hosts": [{"host": NAIVE_HOST, "paths": [{"path": "/", "pathType": "Prefix"}]}],
    },
    "proxy": {"kind": "traefik", "upstreamIdleTimeoutSeconds": 60},
}


@pytest.fixture(scope="module")
def naive(cluster: Cluster, user_release: dict[str, Any]) -> Iterator[Target]:
    with make_target(cluster, "naive", 30182, values=merged(NAIVE_VALUES, ROUTED)) as target:
        yield target


def test_naive_configuration_drops_requests(naive: Target, tmp_path: Path) -> None:
    # Old pods terminate the way *their* spec says: first deploy naive pods (unprobed),
    # then roll them under the probe.
    setup = naive.deploy("0.0.2", values={"app": {"greeting": "Naive-1"}})
    assert setup.returncode == 0, setup.stdout[-3000:]

    wait_routed(NAIVE_HOST)
    with probing_routes(naive.url, {"traefik": NAIVE_HOST}, rate=30, health=False) as reports:
        naive.deploy("0.0.2", values={"app": {"greeting": "Naive-2"}})
        naive.wait_drained()
    for mode, report in reports.items():
        report.write_json(tmp_path / f"negative-control-{mode}.json")
    print(f"negative control: {describe(reports)}")
    assert naive.greeting() == "Naive-2", "the naive rollout did not happen"
    direct = reports["keepalive"].failed + reports["fresh"].failed
    routed = reports["traefik keepalive"].failed + reports["traefik fresh"].failed
    assert direct > 0, "no failure seen on a naive rollout: the harness is blind"
    assert routed > 0, "no failure seen through Traefik on a naive rollout: that probe is blind"
