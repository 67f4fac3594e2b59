"""`make cluster-down` leaves the machine as the cluster found it.

Runs last in `make test` (marker cluster_down): it removes the cluster, then
looks for every kind of leftover the cluster could have made. It does so only when
this `make test` brought the cluster up (the Makefile leaves a marker in the state
dir) or under CI=true, where the machine is throw-away: a cluster that was already
running belongs to the user, with their deployment, and is left alone.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO, STATE_DIR, require

pytestmark = pytest.mark.cluster_down

PROCESS_NAMES = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "containerd",
    "containerd-shim-runc-v2",
    "docker-registry",
    "coredns",
    "pause",
]


def run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60).stdout


def saved_sysctls() -> dict[str, str]:
    path = STATE_DIR / "sysctl-before.conf"
    lines = path.read_text().splitlines() if path.exists() else []
    return {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in lines) if v}


STARTED_BY_TESTS = STATE_DIR / "started-by-make-test"


def test_cluster_down_removes_everything() -> None:
    require((STATE_DIR / "kubeconfig").exists(), "no local cluster to take down")
    if os.environ.get("CI") != "true" and not STARTED_BY_TESTS.exists():
        pytest.skip(
            "the local cluster was running before make test: left running with the user's "
            "deployment (tear-down is tested when the suite brings the cluster up, and "
            "under CI=true)"
        )
    before = saved_sysctls()
    assert before, "up must have saved the original sysctls"

    down = subprocess.run(
        [
            f"{REPO}/.venv/bin/ansible-playbook",
            "playbooks/cluster.yml",
            "-e",
            "cluster_action=down",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
    )
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-2000:]

    running = {name for name in PROCESS_NAMES if run("pgrep", "-x", name[:15]).strip()}
    assert not running, f"cluster processes still running: {running}"
    postgres = run("pgrep", "-af", "postgres")
    assert str(STATE_DIR) not in postgres
    assert run("ip", "link", "show", "cni0") == ""
    leftover_chains = [
        line for line in run("iptables-save").splitlines() if "KUBE-" in line or "CNI-" in line
    ]
    assert not leftover_chains, leftover_chains[:5]
    assert not [ns for ns in run("ip", "netns", "list").split() if ns.startswith("cni-")]
    mounts = Path("/proc/self/mounts").read_text()
    assert str(STATE_DIR) not in mounts
    assert "/run/fastapi-zdk" not in mounts
    leftovers = (STATE_DIR, Path("/run/fastapi-zdk"), Path("/run/containerd"), Path("/var/lib/cni"))
    for path in leftovers:
        assert not path.exists(), f"{path} left behind"
    for key, value in before.items():
        assert run("sysctl", "-n", key).strip() == value, f"{key} not restored"
