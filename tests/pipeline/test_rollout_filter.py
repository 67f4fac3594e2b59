"""The verify role's rollout judgement (roles/verify/filter_plugins/rollout.py)."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

from .conftest import REPO


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "zdk_rollout", REPO / "roles" / "verify" / "filter_plugins" / "rollout.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rollout = _load()


def deployment(
    replicas: int = 2, updated: int = 2, available: int = 2, **extra: Any
) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {
            "name": "fastapi-app",
            "generation": 3,
            "annotations": {"deployment.kubernetes.io/revision": "2"},
        },
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 3,
            "replicas": replicas,
            "updatedReplicas": updated,
            "availableReplicas": available,
            **extra,
        },
    }


def replicaset(name: str, revision: str) -> dict[str, Any]:
    return {
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"kind": "Deployment", "name": "fastapi-app"}],
        },
    }


def pod(
    name: str, rs: str, ready: bool = True, waiting: str = "", restarts: int = 0
) -> dict[str, Any]:
    state: dict[str, Any] = (
        {"waiting": {"reason": waiting, "message": "boom\nmore"}} if waiting else {"running": {}}
    )
    return {
        "kind": "Pod",
        "metadata": {"name": name, "ownerReferences": [{"kind": "ReplicaSet", "name": rs}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"state": state, "restartCount": restarts}],
        },
    }


RS = [replicaset("new", "2"), replicaset("old", "1")]


def test_complete_rollout() -> None:
    state = rollout.rollout_state(
        [deployment(), *RS, pod("a", "new"), pod("b", "new")], "fastapi-app"
    )
    assert state["state"] == "complete"
    assert state["current_pods"] == ["a", "b"]
    assert state["old_ready_pods"] == []


def test_progressing_while_old_pods_serve() -> None:
    objects = [
        deployment(updated=1, available=2),
        *RS,
        pod("a", "new", ready=False),
        pod("o", "old"),
    ]
    state = rollout.rollout_state(objects, "fastapi-app")
    assert state["state"] == "progressing"
    assert state["old_ready_pods"] == ["o"]


def test_fails_fast_on_image_pull_backoff() -> None:
    objects = [deployment(updated=1), *RS, pod("a", "new", ready=False, waiting="ImagePullBackOff")]
    state = rollout.rollout_state(objects, "fastapi-app")
    assert state["state"] == "failed"
    assert state["reason"] == "pod a ImagePullBackOff: boom"


def test_fails_fast_on_crash_loop_and_restarts() -> None:
    crash = [deployment(updated=1), *RS, pod("a", "new", ready=False, waiting="CrashLoopBackOff")]
    assert rollout.rollout_state(crash, "fastapi-app")["state"] == "failed"
    restarts = [deployment(updated=1), *RS, pod("a", "new", ready=False, restarts=3)]
    assert "restarted 3 times" in rollout.rollout_state(restarts, "fastapi-app")["reason"]


def test_old_pod_failures_do_not_count() -> None:
    objects = [deployment(updated=1), *RS, pod("o", "old", ready=False, waiting="CrashLoopBackOff")]
    assert rollout.rollout_state(objects, "fastapi-app")["state"] == "progressing"


def test_progress_deadline_exceeded() -> None:
    conditions = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    objects = [deployment(updated=1, conditions=conditions), *RS]
    assert rollout.rollout_state(objects, "fastapi-app")["state"] == "failed"


def test_unobserved_generation_is_not_complete() -> None:
    dep = deployment()
    dep["status"]["observedGeneration"] = 2
    state = rollout.rollout_state([dep, *RS, pod("a", "new"), pod("b", "new")], "fastapi-app")
    assert state["state"] == "progressing"


def test_missing_deployment_is_progressing() -> None:
    assert rollout.rollout_state([], "fastapi-app")["state"] == "progressing"
