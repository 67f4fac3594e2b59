"""End to end on the local cluster: deploy.yml v1 then v2 under the zero-downtime probe,
an idempotent re-deploy, and the failure paths (migration that cannot start, rollout that
cannot start -> rollback). Needs `make cluster-up`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import REPO, Cluster, describe, probing

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
TOOLS = Path(os.environ.get("ZDK_CACHE", Path.home() / ".cache/fastapi-zdk")) / "tools/bin"
NAMESPACE = "fastapi-app"
URL = "http://127.0.0.1:30080"
# 0.0.2 answers "Universe" where 0.0.1 said "World": a change anyone can see.
UNIVERSE = ("-e", json.dumps({"zdk_extra_values": {"app": {"greeting": "Universe"}}}))


def greeting() -> str:
    with urllib.request.urlopen(f"{URL}/endpoint", timeout=5) as response:  # noqa: S310 (loopback)
        return str(json.load(response)["Hello"])


def deploy(version: str, *extra: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return playbook("deploy.yml", "-e", f"version={version}", *extra, timeout=timeout)


def playbook(path: str, *extra: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}:{TOOLS}:{env.get('PATH', '')}",
    )
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), path, *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    sys.stdout.write(result.stdout[-6000:])
    return result


def helm_revision(cluster: Cluster) -> int:
    out = subprocess.run(
        [
            str(TOOLS / "helm"),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "history",
            "fastapi-app",
            "-n",
            NAMESPACE,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return max(int(r["revision"]) for r in json.loads(out))


def pod_versions(cluster: Cluster) -> dict[str, str]:
    pods = json.loads(
        cluster.kubectl_run(
            "-n",
            NAMESPACE,
            "get",
            "pods",
            "-o",
            "json",
            "-l",
            "app.kubernetes.io/instance=fastapi-app,app.kubernetes.io/component!=migrations",
        ).stdout
    )["items"]
    versions = {}
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp") or pod["status"].get("phase") != "Running":
            continue
        name = pod["metadata"]["name"]
        raw = cluster.kubectl_run(
            "get",
            "--raw",
            f"/api/v1/namespaces/{NAMESPACE}/pods/{name}:8000/proxy/health",
            check=False,
        )
        versions[name] = json.loads(raw.stdout)["version"] if raw.returncode == 0 else "?"
    return versions


def test_deploy_v1_then_v2_without_failed_requests(cluster: Cluster, tmp_path: Path) -> None:
    first = deploy("0.0.1")
    assert first.returncode == 0, first.stdout[-3000:]
    assert set(pod_versions(cluster).values()) == {"0.0.1"}
    assert greeting() == "World"

    started = time.monotonic()
    with probing(URL) as reports:
        second = deploy("0.0.2", *UNIVERSE)
        time.sleep(3)  # let the last old pod finish draining under traffic
    for mode, report in reports.items():
        report.write_json(tmp_path / f"probe-{mode}.json")
    print(f"deploy 0.0.2 took {time.monotonic() - started:.1f}s; {describe(reports)}")
    assert second.returncode == 0, second.stdout[-3000:]
    for report in reports.values():
        assert report.failed == 0, report.text_summary()
    assert reports["keepalive"].versions_in_order() == ["0.0.1", "0.0.2"]
    assert set(pod_versions(cluster).values()) == {"0.0.2"}
    assert greeting() == "Universe"


def test_redeploy_of_the_same_version_changes_nothing(cluster: Cluster) -> None:
    before_revision = helm_revision(cluster)
    before_pods = pod_versions(cluster)
    again = deploy("0.0.2", *UNIVERSE)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "unchanged at revision" in again.stdout
    assert helm_revision(cluster) == before_revision
    assert pod_versions(cluster) == before_pods


def test_migration_that_cannot_start_stops_the_deploy(cluster: Cluster) -> None:
    revision = helm_revision(cluster)
    failed = deploy("0.0.90-nopush", "-e", "image_push=false")
    assert failed.returncode != 0
    assert "migration Job" in failed.stdout
    assert "the old version keeps serving" in failed.stdout
    assert helm_revision(cluster) == revision
    assert set(pod_versions(cluster).values()) == {"0.0.2"}


def test_rollout_that_cannot_start_is_rolled_back_fast(cluster: Cluster) -> None:
    revision = helm_revision(cluster)
    started = time.monotonic()
    failed = deploy("0.0.91-nopush", "-e", "image_push=false", "-e", "zdk_migrations=false")
    elapsed = time.monotonic() - started
    assert failed.returncode != 0
    assert "rolled back to revision" in failed.stdout
    assert elapsed < 240, f"fail-fast took {elapsed:.0f}s"
    assert helm_revision(cluster) == revision + 2  # the failed upgrade + the rollback
    assert set(pod_versions(cluster).values()) == {"0.0.2"}


def test_release_that_crashes_at_start_up_is_rolled_back_under_load(
    cluster: Cluster, tmp_path: Path
) -> None:
    # A real broken build: the app's module raises at import, so uvicorn exits at start-up.
    broken = tmp_path / "app"
    shutil.copytree(
        REPO / "app", broken, ignore=shutil.ignore_patterns("tests", "bench", "__pycache__")
    )
    main = broken / "fastapi_app" / "main.py"
    main.write_text(main.read_text() + '\nraise SystemExit("deliberately broken release")\n')
    revision = helm_revision(cluster)

    with probing(URL) as reports:
        failed = deploy("0.0.3-broken", "-e", f"zdk_app_dir={broken}", *UNIVERSE)
    print(f"broken release under load: {describe(reports)}")
    assert failed.returncode != 0
    verify_time = re.search(
        r"verify\s+failed\s+for\s+0\.0\.3-broken\s+after\s+([0-9.]+)s", failed.stdout
    )
    assert verify_time, failed.stdout[-3000:]
    assert float(verify_time.group(1)) < 60, "the failure must be seen fast, not at a timeout"
    assert "rolled back to revision" in failed.stdout
    for report in reports.values():
        assert report.failed == 0, report.text_summary()
    assert helm_revision(cluster) == revision + 2  # the failed upgrade + the rollback
    assert set(pod_versions(cluster).values()) == {"0.0.2"}
    assert greeting() == "Universe"


def lease(holder: str, renewed: str) -> str:
    return json.dumps(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "fastapi-app-deploy", "namespace": NAMESPACE},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": 900,
                "acquireTime": renewed,
                "renewTime": renewed,
            },
        }
    )


def test_second_concurrent_deploy_is_refused_and_a_stale_lock_expires(cluster: Cluster) -> None:
    revision = helm_revision(cluster)
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    cluster.kubectl_run("apply", "-f", "-", stdin=lease("ops@elsewhere:42 deploy 9.9.9", now))
    try:
        refused = deploy("0.0.4", *UNIVERSE)
        assert refused.returncode != 0
        assert re.search(r"another\s+deploy\s+holds\s+the\s+lock", refused.stdout)
        assert "ops@elsewhere:42" in refused.stdout
        assert helm_revision(cluster) == revision
        # The other deploy's lock is left alone.
        holder = cluster.kubectl_run(
            "-n",
            NAMESPACE,
            "get",
            "lease",
            "fastapi-app-deploy",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ).stdout
        assert holder == "ops@elsewhere:42 deploy 9.9.9"
    finally:
        cluster.kubectl_run("-n", NAMESPACE, "delete", "lease", "fastapi-app-deploy", check=False)

    # A lock not renewed for longer than its duration is taken over.
    stale = "2020-01-01T00:00:00.000000Z"
    cluster.kubectl_run("apply", "-f", "-", stdin=lease("crashed@host:1 deploy 0.0.1", stale))
    taken = deploy("0.0.2", *UNIVERSE)
    assert taken.returncode == 0, taken.stdout[-3000:]
    leftover = cluster.kubectl_run(
        "-n", NAMESPACE, "get", "lease", "fastapi-app-deploy", check=False
    )
    assert leftover.returncode != 0, "the deploy must release the lock it took over"


def test_invalid_values_are_refused_before_anything_changes(cluster: Cluster) -> None:
    revision = helm_revision(cluster)
    too_short = {"zdk_extra_values": {"terminationGracePeriodSeconds": 5}}
    bad = deploy("0.0.2", "-e", json.dumps(too_short))
    assert bad.returncode != 0
    assert "terminationGracePeriodSeconds" in bad.stdout
    assert helm_revision(cluster) == revision
    assert (
        cluster.kubectl_run(
            "-n", NAMESPACE, "get", "lease", "fastapi-app-deploy", check=False
        ).returncode
        != 0
    ), "no orphaned lock"


def test_status_and_rollback_runbook(cluster: Cluster) -> None:
    """docs/runbooks/rollback.md, step by step: read the status, roll back to the
    previous revision, see the previous version serve, then deploy forward again."""
    status = playbook("playbooks/status.yml")
    assert status.returncode == 0, status.stdout[-3000:]
    assert "0.0.2" in status.stdout
    revision = helm_revision(cluster)

    with probing(URL) as reports:
        back = playbook("playbooks/rollback.yml", "-e", "revision=1")
    assert back.returncode == 0, back.stdout[-3000:]
    assert set(pod_versions(cluster).values()) == {"0.0.1"}
    assert greeting() == "World"
    assert helm_revision(cluster) == revision + 1
    for report in reports.values():
        assert report.failed == 0, report.text_summary()

    bad = playbook("playbooks/rollback.yml", "-e", "revision=abc")
    assert bad.returncode != 0
    assert "invalid revision" in bad.stdout

    forward = deploy("0.0.2", *UNIVERSE)
    assert forward.returncode == 0, forward.stdout[-3000:]
    assert greeting() == "Universe"
