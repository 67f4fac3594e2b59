"""The rollout and pod judgement shared by verify, migrate and status
(plugins/filter/rollout.py)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import load_plugin

rollout = load_plugin("filter/rollout.py")


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


def test_fails_fast_on_an_oom_killed_container() -> None:
    oom = pod("a", "new", ready=False)
    oom["status"]["containerStatuses"][0]["lastState"] = {"terminated": {"reason": "OOMKilled"}}
    state = rollout.rollout_state([deployment(updated=1), *RS, oom], "fastapi-app")
    assert state["state"] == "failed"
    assert "OOMKilled" in state["reason"]


def test_pods_of_other_owners_are_ignored() -> None:
    job_pod = pod("migrate", "not-a-replicaset", waiting="CrashLoopBackOff")
    job_pod["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "fastapi-app-migrate-0-0-2"}]
    state = rollout.rollout_state(
        [deployment(), *RS, pod("a", "new"), pod("b", "new"), job_pod], "fastapi-app"
    )
    assert state["state"] == "complete"
    assert rollout.deployment_pods([*RS, pod("a", "new"), job_pod], "fastapi-app") == [
        pod("a", "new")
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "restartCount": 4,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"reason": "Error"}},
                    }
                ],
            },
            "CrashLoopBackOff, last Error (restarts 4)",
        ),
        (
            {
                "phase": "Pending",
                "containerStatuses": [
                    {"restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}
                ],
            },
            "ImagePullBackOff",
        ),
        (
            {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {
                        "restartCount": 1,
                        "state": {"running": {}},
                        "lastState": {"terminated": {"reason": "OOMKilled"}},
                    }
                ],
            },
            "Running, ready, last OOMKilled (restarts 1)",
        ),
        (
            {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
                ],
            },
            "Pending: Unschedulable",
        ),
        (
            {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [{"restartCount": 0, "state": {"running": {}}}],
            },
            "Running, not ready",
        ),
    ],
)
def test_pod_state_names_the_real_state_not_the_phase(
    status: dict[str, Any], expected: str
) -> None:
    assert rollout.pod_state({"metadata": {"name": "p"}, "status": status}) == expected


def test_terminating_pod() -> None:
    terminating = pod("a", "old")
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert rollout.pod_state(terminating) == "Terminating"


def _rollout_module() -> Any:
    """plugins/modules/zdk_rollout.py, with its module_utils where Ansible would put them."""
    import sys

    sys.modules.setdefault("ansible.module_utils.zdk_kube", load_plugin("module_utils/zdk_kube.py"))
    return load_plugin("modules/zdk_rollout.py")


def _with_template(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the API gives it: labels, annotations and a pod spec with a secret."""
    full = {**obj, "apiVersion": "v1", "metadata": dict(obj["metadata"])}
    full["metadata"]["labels"] = {"app": "x"}
    full["metadata"].setdefault("annotations", {})
    full["metadata"]["annotations"] = {**full["metadata"]["annotations"], "note": "CANARY"}
    full["metadata"]["deletionTimestamp"] = None
    spec = {"containers": [{"env": [{"name": "TOKEN", "value": "CANARY"}]}]}
    full["spec"] = {**obj.get("spec", {}), "template": {"spec": spec}, **spec}
    return full


def test_the_rollout_module_keeps_what_the_judgement_reads_and_nothing_else() -> None:
    module = _rollout_module()
    objects = [
        deployment(replicas=2, updated=1, available=2),
        replicaset("fastapi-app-new", "2"),
        replicaset("fastapi-app-old", "1"),
        pod("fastapi-app-new-a", "fastapi-app-new"),
        pod("fastapi-app-new-b", "fastapi-app-new", ready=False),
        pod("fastapi-app-old-a", "fastapi-app-old"),
    ]
    reduced = [module._reduced(o["kind"], _with_template(o)) for o in objects]
    assert "CANARY" not in repr(reduced)
    # An unset deletionTimestamp stays absent (status.yml selects pods by `defined`).
    assert all("deletionTimestamp" not in o["metadata"] for o in reduced)
    assert rollout.rollout_state(reduced, "fastapi-app") == rollout.rollout_state(
        objects, "fastapi-app"
    )
    assert module.counts(reduced, "fastapi-app") == {
        "replicas": 2,
        "new_ready": 1,
        "old_ready": 1,
        "not_ready": 1,
    }
