"""The suite leaves the user's own deployment alone (runs last among the e2e modules).

`user_release` (conftest) records the user's release fastapi-app/fastapi-app before any
test deploys: its helm history, the kit's ledger of verdicts, and every pod with the
version it serves. Here it must be exactly the same. Under CI=true, where the machine is
throw-away, a release with a version of its own and more revisions than helm keeps
(--history-max 10, so revision 1 is long gone) is made first, the way a user who
deployed a dozen times would have it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from .conftest import (
    REPO,
    USER_NAMESPACE,
    USER_RELEASE,
    Cluster,
    run_playbook,
    serving_versions,
)

pytestmark = pytest.mark.e2e

USER_VERSION = "0.0.7"
# More than release_history_max (10): helm has pruned the first revisions.
USER_REVISIONS = 13


def _history(cluster: Cluster) -> list[dict[str, Any]]:
    out = cluster.helm("history", USER_RELEASE, "-n", USER_NAMESPACE, "-o", "json", check=False)
    return sorted(json.loads(out or "[]"), key=lambda r: int(r["revision"]))


def _get_user(cluster: Cluster, *what: str) -> Any:
    """One object (or list) of the user's namespace as JSON, None when there is none."""
    found = cluster.kubectl_run("-n", USER_NAMESPACE, "get", *what, "-o", "json", check=False)
    return json.loads(found.stdout) if found.returncode == 0 else None


def _pods(cluster: Cluster) -> dict[str, str]:
    return serving_versions(cluster, USER_NAMESPACE, USER_RELEASE)


def _ledger(cluster: Cluster) -> dict[str, str]:
    found = _get_user(cluster, "configmap", f"{USER_RELEASE}-deploy-ledger")
    return (found or {}).get("data") or {}


def seed_user_release(cluster: Cluster) -> None:
    """A user's release with a version of its own and a pruned history."""
    first = run_playbook("deploy.yml", "-e", f"version={USER_VERSION}")
    assert first.returncode == 0, first.stdout[-3000:]
    # Revisions that change no pod (a Service annotation), as cheap history.
    while int(_history(cluster)[-1]["revision"]) < USER_REVISIONS - 1:
        n = int(_history(cluster)[-1]["revision"])
        cluster.helm(
            "upgrade",
            USER_RELEASE,
            str(REPO / "charts/fastapi-app"),
            "-n",
            USER_NAMESPACE,
            "--reuse-values",
            "--history-max",
            "10",
            "--set-string",
            f"service.annotations.user-note=edit-{n}",
        )
    # The last one through the kit, so the release is verified like a user's would be.
    last = run_playbook("playbooks/status.yml")
    assert last.returncode == 0, last.stdout[-3000:]


def snapshot_user_release(cluster: Cluster) -> dict[str, Any]:
    if not _history(cluster) and os.environ.get("CI") == "true":
        seed_user_release(cluster)
    return {"history": _history(cluster), "ledger": _ledger(cluster), "pods": _pods(cluster)}


def test_user_release_is_untouched(cluster: Cluster, user_release: dict[str, Any]) -> None:
    if os.environ.get("CI") == "true":
        history = user_release["history"]
        assert history, "under CI the user's release is made before the suite"
        assert int(history[-1]["revision"]) >= USER_REVISIONS - 1
        assert int(history[0]["revision"]) > 1, "revision 1 must have been pruned"
        assert set(user_release["pods"].values()) == {USER_VERSION}
    after = snapshot_user_release(cluster)
    assert after["history"] == user_release["history"], "the user's helm history changed"
    assert after["ledger"] == user_release["ledger"], "the user's verify ledger changed"
    assert after["pods"] == user_release["pods"], "the user's pods or served versions changed"
