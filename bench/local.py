"""What the benchmarks share to drive the local cluster: its paths, and one way to run a
command against it (the venv's Ansible, the cached kubectl and helm, the cluster's
kubeconfig). Local-cluster only: nothing here talks beyond 127.0.0.1 and its API server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STATE_DIR = Path(os.environ.get("ZDK_STATE_DIR", "/var/lib/fastapi-zdk"))
KUBECONFIG = Path(os.environ.get("ZDK_KUBECONFIG", STATE_DIR / "kubeconfig"))
CACHE = Path(os.environ.get("ZDK_CACHE", Path.home() / ".cache/fastapi-zdk"))
TOOLS = CACHE / "tools/bin"
BIN = Path(sys.executable).parent


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.update(
        KUBECONFIG=str(KUBECONFIG),
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}:{TOOLS}:{e.get('PATH', '')}",
    )
    return e


def sh(
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 120,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        list(argv),
        cwd=REPO,
        env={**env(), **(extra_env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        name = Path(argv[0]).name
        raise RuntimeError(f"{name} {' '.join(argv[1:4])} failed: {result.stderr.strip()[-800:]}")
    return result


# Deploys run as their namespace's least-privilege deployer, as with inventory/local.
DEPLOYER = "fastapi-zdk-deployer"


def deployer_kubeconfig(namespace: str) -> Path:
    return STATE_DIR / f"deployer-{namespace}.kubeconfig"


def make_deployer(namespace: str) -> Path:
    """The namespace's deployer (playbooks/deployer.yml, admin kubeconfig); its kubeconfig."""
    path = deployer_kubeconfig(namespace)
    variables = {"zdk_namespace": namespace, "zdk_kubeconfig": str(path)}
    sh(
        [str(BIN / "ansible-playbook"), "playbooks/deployer.yml", "-e", json.dumps(variables)],
        timeout=300,
    )
    return path


def remove_deployer(namespace: str) -> None:
    """Its cluster-scoped objects and kubeconfig (the namespaced ones go with the namespace)."""
    name = f"{DEPLOYER}:{namespace}"
    kubectl = [str(STATE_DIR / "kubectl"), f"--kubeconfig={KUBECONFIG}"]
    sh(
        [*kubectl, "delete", "clusterrolebinding,clusterrole", name, "--ignore-not-found"],
        check=False,
    )
    deployer_kubeconfig(namespace).unlink(missing_ok=True)
