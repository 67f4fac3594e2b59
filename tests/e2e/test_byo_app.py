"""Bring your own app: examples/minimal ("quotes": gunicorn with two uvicorn workers per
pod, port 8080, health on /status, no database), deployed by the kit's deploy.yml through
inventory values only (examples/minimal/deploy-vars.yml).

- v1 -> v2 under the keep-alive and the fresh-connection probes: 0 failed requests.
- Negative control: the same image with the lifecycle switched off (ZDK_LIFECYCLE=off,
  the app as it was before adoption) and without the chart's shutdown timeline, rolled
  by bare `helm upgrade`, MUST drop requests; otherwise the zero above proves nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import (
    REGISTRY,
    REPO,
    Cluster,
    Target,
    assert_no_failed_requests,
    describe,
    flat,
    make_target,
    probing,
    run_playbook,
)

pytestmark = pytest.mark.e2e

VARS = REPO / "examples/minimal/deploy-vars.yml"
REPOSITORY = f"{REGISTRY}/zdk-e2e/quotes"
NODE_PORT = 30185
NAIVE_PORT = 30186
PORT = 8080


def deploy(target: Target, version: str) -> Any:
    """deploy.yml with the example's variables, then this target's place on top."""
    place = {
        "zdk_namespace": target.namespace,
        "zdk_release": target.release,
        "zdk_image_repository": REPOSITORY,
        "zdk_extra_values": {"service": {"nodePort": target.node_port}},
        "zdk_analysis_seconds": 5,
    }
    return run_playbook(
        "deploy.yml", "-e", f"@{VARS}", "-e", json.dumps(place), "-e", f"version={version}"
    )


def versions(target: Target) -> dict[str, str]:
    """Version each running pod reports at /status (the chart's health.versionPath)."""
    out = {}
    for pod in target.pods():
        if pod["metadata"].get("deletionTimestamp") or pod["status"].get("phase") != "Running":
            continue
        name = pod["metadata"]["name"]
        raw = target.cluster.kubectl_run(
            "get",
            "--raw",
            f"/api/v1/namespaces/{target.namespace}/pods/{name}:{PORT}/proxy/status",
            check=False,
        )
        out[name] = json.loads(raw.stdout).get("version", "?") if raw.returncode == 0 else "?"
    return out


@pytest.fixture(scope="module")
def quotes(cluster: Cluster, user_release: dict[str, Any]) -> Iterator[Target]:
    """The example released at 1.0.0 (a first install: nothing to probe yet)."""
    with make_target(cluster, "byo", NODE_PORT, release="quotes") as target:
        first = deploy(target, "1.0.0")
        assert first.returncode == 0, first.stdout[-4000:]
        yield target


def test_own_app_deploys_with_zero_failed_requests(quotes: Target, tmp_path: Path) -> None:
    deployment = quotes.cluster.json(
        "-n", quotes.namespace, "get", "deployment", "-l", "app.kubernetes.io/instance=quotes"
    )["items"][0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"][:3] == ["gunicorn", "-c", "python:fastapi_zdk.gunicorn_conf"]
    assert container["ports"][0]["containerPort"] == PORT
    assert container["readinessProbe"]["httpGet"]["path"] == "/status/ready"
    assert pod["terminationGracePeriodSeconds"] == 10 + 5 + 20 + 5

    with probing(quotes.url, path="/quotes/1", health_path="/status") as reports:
        second = deploy(quotes, "1.0.1")
        quotes.wait_drained()
    for mode, report in reports.items():
        report.write_json(tmp_path / f"byo-{mode}.json")
    print(f"own app 1.0.0 -> 1.0.1: {describe(reports)}")
    assert second.returncode == 0, second.stdout[-4000:]
    out = flat(second.stdout)
    assert "2 smoke checks passed on each pod" in out, out[-3000:]
    # The library's /metrics reached the analysis window.
    assert "requests not measured" not in out, out[-3000:]
    found = versions(quotes)
    assert found, "no running pod of the example"
    assert set(found.values()) == {"1.0.1"}, found
    assert_no_failed_requests(reports)
    assert all(r.sent > 0 for r in reports.values())


def test_own_app_without_the_lifecycle_drops_requests(quotes: Target, tmp_path: Path) -> None:
    """Same image (1.0.0, built and pushed above), bare helm, no lifecycle, no timeline."""
    naive = yaml.safe_load((REPO / "charts/fastapi-app/ci/naive-values.yaml").read_text())
    example = yaml.safe_load(VARS.read_text())["zdk_chart_values"]
    values = {
        **naive,
        "image": {"repository": REPOSITORY, "tag": "1.0.0"},
        "command": example["command"],
        "containerPort": PORT,
        # No /status without the lifecycle: no probes at all, as before adoption.
        "probes": {
            "startup": {"enabled": False},
            "readiness": {"enabled": False},
            "liveness": {"enabled": False},
        },
        "service": {"type": "NodePort", "nodePort": NAIVE_PORT},
        "tests": {"enabled": False},
    }

    def roll(greeting: str) -> None:
        env = [
            {"name": "ZDK_LIFECYCLE", "value": "off"},
            {"name": "WEB_CONCURRENCY", "value": "2"},
            {"name": "QUOTES_GREETING", "value": greeting},
        ]
        values_file = tmp_path / f"naive-{greeting}.yaml"
        values_file.write_text(yaml.safe_dump({**values, "extraEnv": env}))
        quotes.cluster.helm(
            "upgrade", "--install", "quotes-naive", str(REPO / "charts/fastapi-app"),
            "-n", quotes.namespace, "-f", str(values_file), "--wait", "--timeout", "180s",
        )  # fmt: skip

    roll("naive-1")
    bare = Target(quotes.cluster, quotes.name, NAIVE_PORT, release="quotes-naive")
    with probing(bare.url, rate=30, health=False, path="/quotes/1") as reports:
        roll("naive-2")
        bare.wait_drained()
    for mode, report in reports.items():
        report.write_json(tmp_path / f"byo-negative-{mode}.json")
    print(f"own app without the lifecycle: {describe(reports)}")
    assert sum(r.failed for r in reports.values()) > 0, (
        "no failure seen rolling the app without the lifecycle: the harness is blind"
    )
