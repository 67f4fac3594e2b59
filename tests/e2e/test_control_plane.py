"""The deploy tool under the faults an operator meets in a normal week, each produced for
real on the local cluster, in a namespace of its own, under the zero-downtime probes:
Ctrl-C (SIGINT to the job) and `kill` (SIGTERM) of ansible-playbook during verify and
during the helm step, SIGKILL of it, two deploys started together by the same user on
the same host, a helm SIGKILLed in --wait (pending-upgrade), a run that loses its lock,
and invalid versions. After each: the lock is free within a minute, and the next run
says in one line what it found and leaves the release verified."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    HELM,
    REPO,
    TEST_REPOSITORY,
    Cluster,
    Running,
    Target,
    assert_no_failed_requests,
    describe,
    flat,
    make_target,
    probing,
    run_bash,
    runbook_block,
)

pytestmark = pytest.mark.e2e

REGISTRY_API = "http://127.0.0.1:5000/v2"
INVALID_VERSIONS = {
    "1.2.3-rc.": "empty pre-release identifier",
    "1.2.3-" + "x" * 94: "100 characters; at most 63",
    "01.2.3": "leading zero",
    "1.2.3+build.7": "build metadata",
    "1.2.3-rc-": "must end with a letter or digit",
}


@pytest.fixture(scope="module")
def control(cluster: Cluster, user_release: dict[str, Any]) -> Iterator[Target]:
    with make_target(cluster, "control", 30183) as target:
        yield target


def registry_content() -> dict[str, list[str]]:
    def get(path: str) -> Any:
        with urllib.request.urlopen(f"{REGISTRY_API}{path}", timeout=10) as response:  # noqa: S310
            return json.load(response)

    repositories = get("/_catalog?n=1000")["repositories"]
    return {repo: sorted(get(f"/{repo}/tags/list").get("tags") or []) for repo in repositories}


def start_deploy(target: Target, greeting: str, log: Path) -> Running:
    """deploy.yml of 0.0.2 with a greeting of its own (so the pods roll), in the background."""
    return target.start(
        "deploy.yml", "-e", "version=0.0.2", values={"app": {"greeting": greeting}}, log=log
    )


def assert_verified_and_serving(target: Target, version: str) -> None:
    assert target.status() == "deployed"
    assert target.verdict(target.revision()) == "verified"
    assert set(target.pod_versions().values()) == {version}


def test_invalid_versions_are_refused_before_anything_is_built(control: Target) -> None:
    before = registry_content()
    for version, reason in INVALID_VERSIONS.items():
        refused = control.deploy(version)
        assert refused.returncode != 0
        messages = [line for line in refused.stdout.splitlines() if line.strip().startswith("msg:")]
        assert len(messages) == 1, refused.stdout[-2000:]
        assert f'invalid version "{version}"' in flat(refused.stdout)
        assert reason in flat(refused.stdout)
        assert re.search(r"changed=0\s", refused.stdout)
    assert registry_content() == before, "nothing may be built or pushed for a bad version"
    assert control.history() == []


def kill_helm_in_wait(target: Target, greeting: str, status: str, *values: str) -> int:
    """Run `helm upgrade --wait` outside the kit and SIGKILL it once helm has marked the
    release `status` (pending-upgrade, pending-install); returns the stuck revision."""
    helm = subprocess.Popen(
        [
            str(HELM),
            "--kubeconfig",
            str(target.cluster.kubeconfig),
            "upgrade",
            target.release,
            str(REPO / "charts/fastapi-app"),
            "-n",
            target.namespace,
            *(values or ("--reuse-values",)),
            "--set-string",
            f"app.greeting={greeting}",
            "--wait",
            "--timeout",
            "5m",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while target.status() != status and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(helm.pid, signal.SIGKILL)
    helm.wait(timeout=30)
    assert target.status() == status
    return target.revision()


def test_first_install_killed_in_helm_is_uninstalled_then_installed(control: Target) -> None:
    """A first install whose helm dies in --wait leaves `pending-install` and nothing
    verified to go back to: the next deploy uninstalls it and installs."""
    stuck = kill_helm_in_wait(
        control,
        "Half-installed",
        "pending-install",
        "--install",
        "--set-string",
        f"image.repository={TEST_REPOSITORY},image.tag=0.0.2",
        "--set-string",
        "service.type=NodePort",
        "--set",
        f"service.nodePort={control.node_port}",
        "--set-string",
        "database.existingSecret=fastapi-app-database",
    )
    first = control.deploy("0.0.2", values={"app": {"greeting": "Baseline"}})
    assert first.returncode == 0, first.stdout[-3000:]
    said = flat(first.stdout)
    assert f"repair: revision {stuck} (0.0.2) is pending-install" in said
    assert "no earlier revision: uninstalling it" in said
    assert control.greeting() == "Baseline"
    assert_verified_and_serving(control, "0.0.2")


def test_without_a_registry_api_the_release_is_still_pinned_by_digest(control: Target) -> None:
    """As in the staging and production inventories (no registry API): an unchanged
    image is pushed again for the digest the registry gives it; without a push there is
    no digest, and a release by tag alone is refused before anything changes."""
    no_api = ("-e", "zdk_registry_api_url=")
    pinned = control.deploy("0.0.2", *no_api, values={"app": {"greeting": "Pinned"}})
    assert pinned.returncode == 0, pinned.stdout[-3000:]
    assert "Push the unchanged image again for its digest" in pinned.stdout
    deployment = control.cluster.json("-n", control.namespace, "get", "deployments")["items"][0]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert re.fullmatch(rf"{re.escape(TEST_REPOSITORY)}@sha256:[0-9a-f]{{64}}", image), image

    before = control.revision()
    refused = control.deploy(
        "0.0.2", *no_api, "-e", "image_push=false", values={"app": {"greeting": "Tag-only"}}
    )
    assert refused.returncode != 0
    assert "by its tag alone: no registry digest" in flat(refused.stdout)
    assert control.revision() == before
    assert control.lease() is None


@pytest.mark.parametrize(
    ("signum", "step"),
    [
        (signal.SIGINT, "verify"),
        (signal.SIGTERM, "verify"),
        (signal.SIGINT, "helm"),
        (signal.SIGTERM, "helm"),
    ],
    ids=["SIGINT-verify", "SIGTERM-verify", "SIGINT-helm", "SIGTERM-helm"],
)
def test_interrupted_deploy_frees_the_lock_and_the_next_run_repairs(
    control: Target, tmp_path: Path, signum: signal.Signals, step: str
) -> None:
    greeting = f"{signum.name}-{step}"
    before = control.revision()
    with probing(control.url) as reports:
        run = start_deploy(control, greeting, tmp_path / "interrupted.log")
        if step == "verify":
            run.wait_for_verify()
        else:  # helm has written its pending-upgrade record and is applying
            run.wait_for_release_status(control, "pending-upgrade")
        # Ctrl-C reaches the terminal's job (its process group); `kill` only the process.
        run.interrupt(signum, group=signum == signal.SIGINT)
        interrupted = time.monotonic()
        code = run.finish(timeout=120)
        control.wait_lock_free(60)
        lock_seconds = time.monotonic() - interrupted
        after_interrupt = control.revision()
        # The next run, whichever it is, finds what was left and repairs it first.
        if step == "verify":
            nxt = control.playbook("playbooks/status.yml")
        else:
            nxt = control.deploy("0.0.2", values={"app": {"greeting": greeting + "-next"}})
        control.wait_drained()
    print(
        f"{greeting}: exit {code}, lock free {lock_seconds:.1f}s after the signal, "
        f"revision {before} -> {after_interrupt} -> {control.revision()}; {describe(reports)}"
    )
    assert code != 0, run.text()[-2000:]
    assert lock_seconds < 60
    assert nxt.returncode == 0, nxt.stdout[-3000:]
    assert after_interrupt == before + 1, "the signal came after helm made a revision"
    assert re.search(rf"repair: revision {after_interrupt} \(0\.0\.2\)", flat(nxt.stdout))
    assert_verified_and_serving(control, "0.0.2")
    assert control.lease() is None
    assert_no_failed_requests(reports)


def test_sigkilled_deploy_frees_the_lock_and_the_next_deploy_repairs(
    control: Target, tmp_path: Path
) -> None:
    with probing(control.url) as reports:
        run = start_deploy(control, "Killed", tmp_path / "killed.log")
        run.wait_for_verify()
        run.interrupt(signal.SIGKILL, group=False)
        killed = time.monotonic()
        assert run.finish(timeout=30) == -signal.SIGKILL
        control.wait_lock_free(60)
        lock_seconds = time.monotonic() - killed
        unverified = control.revision()
        nxt = control.deploy("0.0.2", values={"app": {"greeting": "Killed-next"}})
        control.wait_drained()
    print(f"SIGKILL: lock free {lock_seconds:.1f}s after the kill; {describe(reports)}")
    assert lock_seconds < 60
    assert nxt.returncode == 0, nxt.stdout[-3000:]
    assert re.search(
        rf"repair: revision {unverified} \(0\.0\.2\) was never verified", flat(nxt.stdout)
    )
    assert control.verdict(unverified) == "verified"
    assert_verified_and_serving(control, "0.0.2")
    assert control.greeting() == "Killed-next"
    assert_no_failed_requests(reports)


def test_two_deploys_started_together_exactly_one_proceeds(control: Target, tmp_path: Path) -> None:
    before = control.revision()
    with probing(control.url) as reports:
        runs = [start_deploy(control, f"Race-{n}", tmp_path / f"race-{n}.log") for n in (1, 2)]
        codes = [run.finish(timeout=900) for run in runs]
        control.wait_drained()
    print(f"two deploys at once: exits {codes}; {describe(reports)}")
    assert sorted(codes) == [0, 2], [run.text()[-1500:] for run in runs]
    winner, loser = (runs[0], runs[1]) if codes[0] == 0 else (runs[1], runs[0])
    held = re.search(r"held by (\S+@\S+:[0-9a-f]{8})", winner.text())
    assert held, winner.text()[-2000:]
    assert f"another deploy holds the lock: {held.group(1)}" in flat(loser.text())
    assert "Build and push the image" not in loser.text(), "the loser must stop before building"
    assert control.revision() == before + 1
    assert control.greeting() == f"Race-{1 if codes[0] == 0 else 2}"
    assert_verified_and_serving(control, "0.0.2")
    assert control.lease() is None
    assert_no_failed_requests(reports)


def test_helm_killed_in_wait_leaves_pending_upgrade_and_the_next_deploy_recovers(
    control: Target,
) -> None:
    verified = control.revision()
    with probing(control.url) as reports:
        stuck = kill_helm_in_wait(control, "Stuck", "pending-upgrade")
        recovered = control.deploy("0.0.2", values={"app": {"greeting": "Recovered"}})
        control.wait_drained()
    print(f"helm killed in --wait: {describe(reports)}")
    assert recovered.returncode == 0, recovered.stdout[-3000:]
    said = flat(recovered.stdout)
    assert f"repair: revision {stuck} (0.0.2) is pending-upgrade" in said
    assert f"rolling back to revision {verified} (0.0.2, verified)" in said
    assert control.greeting() == "Recovered"
    assert_verified_and_serving(control, "0.0.2")
    assert_no_failed_requests(reports)


def test_a_deploy_that_lost_its_lock_stops_before_the_release(
    control: Target, tmp_path: Path
) -> None:
    before = control.revision()
    with probing(control.url) as reports:
        run = start_deploy(control, "Lost", tmp_path / "lost.log")
        run.wait_for(r"lock: \S+ held by")
        # Another run takes the Lease over (as one that judged it stale would).
        taken = {"spec": {"holderIdentity": "other@host:0badf00d"}}
        control.cluster.kubectl_run(
            "-n",
            control.namespace,
            "patch",
            "lease",
            control.lock_name,
            "--type=merge",
            "-p",
            json.dumps(taken),
        )
        code = run.finish(timeout=300)
    try:
        assert code != 0
        assert "deploy lock lost: now held by other@host:0badf00d" in flat(run.text())
        assert control.revision() == before, "a run without the lock must not touch the release"
        lease = control.lease()
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == "other@host:0badf00d", "not ours to delete"
        assert_no_failed_requests(reports)
    finally:
        control.cluster.kubectl_run("-n", control.namespace, "delete", "lease", control.lock_name)


def test_stuck_release_runbook_by_hand(control: Target) -> None:
    """docs/runbooks/stuck-release.md "By hand", run as it stands."""
    verified = control.revision()
    with probing(control.url) as reports:
        kill_helm_in_wait(control, "Stuck-by-hand", "pending-upgrade")
        by_hand = run_bash(
            runbook_block("stuck-release.md", "## By hand (no Ansible at hand)"),
            RELEASE=control.release,
            NAMESPACE=control.namespace,
            # As the deployer: the runbook must work with the deploy's own rights.
            KUBECONFIG=str(control.kubeconfig),
        )
        control.wait_drained()
    assert by_hand.returncode == 0, by_hand.stderr[-2000:]
    assert f"rolling back to verified revision {verified}" in by_hand.stdout
    assert control.status() == "deployed"
    assert set(control.pod_versions().values()) == {"0.0.2"}
    assert_no_failed_requests(reports)
    # Rolled back outside the kit: the next status verifies it and records the verdict.
    status = control.playbook("playbooks/status.yml")
    assert status.returncode == 0, status.stdout[-3000:]
    assert f"repair: revision {control.revision()} (0.0.2) was never verified" in flat(
        status.stdout
    )
    assert control.verdict(control.revision()) == "verified"


def test_a_deploy_to_another_cluster_or_namespace_is_refused_with_nothing_changed(
    control: Target,
) -> None:
    """The inventory's pin (zdk_cluster_pin): another CA or another namespace is refused in
    preflight with one line; nothing is built, pushed, locked or released."""
    revision, registry = control.revision(), registry_content()
    elsewhere = {
        "wrong cluster:": {"ca_sha256": "ab" * 32, "namespace": control.namespace},
        f"wrong namespace: {control.namespace} is not fastapi-app": {"namespace": "fastapi-app"},
    }
    for reason, pin in elsewhere.items():
        refused = control.deploy("0.0.9", "-e", json.dumps({"zdk_cluster_pin": pin}))
        assert refused.returncode != 0
        messages = [line for line in refused.stdout.splitlines() if line.strip().startswith("msg:")]
        assert len(messages) == 1, refused.stdout[-2000:]
        assert reason in flat(refused.stdout)
        assert "nothing was changed" in flat(refused.stdout)
        assert re.search(r"changed=0\s", refused.stdout)
    assert control.revision() == revision
    assert registry_content() == registry, "nothing may be built or pushed for another cluster"
    assert control.lease() is None


def test_the_deployer_can_do_nothing_beyond_its_namespace(control: Target) -> None:
    """Every playbook run of the suite uses the Target's deployer (playbooks/deployer.yml).
    The same identity is denied what is not its namespace's deploy: another release's
    Secret, the cluster's, deleting a Namespace (even its own), nodes, RBAC."""
    deployer = [str(control.cluster.kubectl), f"--kubeconfig={control.kubeconfig}"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*deployer, *args], capture_output=True, text=True, timeout=60, check=False
        )

    whoami = run("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert whoami.stdout == f"system:serviceaccount:{control.namespace}:fastapi-zdk-deployer"
    account = f"--serviceaccount={control.namespace}:fastapi-zdk-deployer"
    denied = [
        ("get", "secret", "fastapi-app-database", "-n", "fastapi-app"),
        ("get", "secrets", "-n", "kube-system"),
        ("delete", "namespace", control.namespace, "--dry-run=server"),
        ("get", "nodes"),
        ("create", "clusterrolebinding", "zdk-e2e-up", "--clusterrole=cluster-admin", account,
         "--dry-run=server"),
        ("create", "rolebinding", "zdk-e2e-up", "--clusterrole=admin", "-n", control.namespace,
         account, "--dry-run=server"),
        ("get", "pods", "-n", "fastapi-app"),
    ]  # fmt: skip
    for args in denied:
        result = run(*args)
        assert result.returncode != 0, f"allowed: kubectl {' '.join(args)}"
        assert "forbidden" in result.stderr.lower(), result.stderr
    # What it needs in its own namespace it has.
    for verb, resource in (
        ("create", "deployments.apps"),
        ("delete", "jobs.batch"),
        ("get", "pods/proxy"),
    ):
        allowed = run("auth", "can-i", verb, resource, "-n", control.namespace)
        assert allowed.stdout.strip() == "yes", f"{verb} {resource}"


def test_status_shows_the_real_state_of_a_crashing_pod(control: Target) -> None:
    """A pod that crash-loops (here: the Deployment edited out of band, the drift an
    operator meets) is shown as CrashLoopBackOff, not by its phase."""
    ready = control.playbook("playbooks/status.yml")  # whatever came before: verified now
    assert ready.returncode == 0, ready.stdout[-3000:]
    assert_verified_and_serving(control, "0.0.2")
    deployment = control.cluster.json("-n", control.namespace, "get", "deployments")["items"][0]
    name = deployment["metadata"]["name"]
    crash = [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/command",
            "value": ["python3", "-c", "raise SystemExit(3)"],
        }
    ]
    control.cluster.kubectl_run(
        "-n", control.namespace, "patch", "deployment", name, "--type=json", "-p", json.dumps(crash)
    )
    try:
        deadline = time.monotonic() + 120
        status = control.playbook("playbooks/status.yml")
        while "CrashLoopBackOff" not in status.stdout and time.monotonic() < deadline:
            time.sleep(5)
            status = control.playbook("playbooks/status.yml")
        assert status.returncode == 0, status.stdout[-3000:]
        assert re.search(
            r"\s+CrashLoopBackOff, last Error \(restarts [0-9]+\)\s+(unreachable|-)", status.stdout
        )
        assert re.search(r"\s+Running, ready\s+0\.0\.2", status.stdout), "old pods keep serving"
    finally:
        control.cluster.kubectl_run(
            "-n", control.namespace, "rollout", "undo", f"deployment/{name}"
        )
        control.cluster.kubectl_run(
            "-n",
            control.namespace,
            "rollout",
            "status",
            f"deployment/{name}",
            "--timeout=120s",
            timeout=180,
        )
