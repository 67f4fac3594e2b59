"""What the benchmarks share to drive the local cluster: its paths, and one way to run a
command against it (the venv's Ansible, the cached kubectl and helm, the cluster's
kubeconfig). Local-cluster only: nothing here talks beyond 127.0.0.1 and its API server."""

from __future__ import annotations

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
    argv: Sequence[str], *, stdin: str | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 (fixed argv, no shell)
        list(argv),
        cwd=REPO,
        env=env(),
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
