"""Judge a Deployment's rollout and its pods from the API objects (verify, migrate and
status all use these filters). FAIL_FAST_REASONS is the one list of pod states that end
a wait at once instead of at its timeout."""

from __future__ import annotations

from typing import Any

FAIL_FAST_REASONS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)
# Reasons a container last ended with that fail a rollout as well.
FAIL_FAST_TERMINATIONS = ("OOMKilled",)


def _owned_by(pod: dict[str, Any], rs_name: str) -> bool:
    return any(
        ref.get("kind") == "ReplicaSet" and ref.get("name") == rs_name
        for ref in pod.get("metadata", {}).get("ownerReferences", [])
    )


def _is_ready(pod: dict[str, Any]) -> bool:
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def _owned_by_deployment(replicaset: dict[str, Any], name: str) -> bool:
    return any(
        ref.get("kind") == "Deployment" and ref.get("name") == name
        for ref in replicaset.get("metadata", {}).get("ownerReferences", [])
    )


def _current_replicaset(deployment: dict[str, Any], replicasets: list[dict[str, Any]]) -> str:
    revision = (
        deployment.get("metadata", {})
        .get("annotations", {})
        .get("deployment.kubernetes.io/revision")
    )
    for rs in replicasets:
        rs_revision = (
            rs.get("metadata", {}).get("annotations", {}).get("deployment.kubernetes.io/revision")
        )
        if revision is not None and rs_revision == revision:
            return str(rs["metadata"]["name"])
    return ""


def _container_statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status", {})
    return list(status.get("initContainerStatuses", [])) + list(status.get("containerStatuses", []))


def pod_failure(pod: dict[str, Any], restart_limit: int = 2) -> str:
    """Why this pod cannot become ready by itself ("" when it still may): a waiting
    reason of FAIL_FAST_REASONS, a container killed for memory, too many restarts."""
    name = pod.get("metadata", {}).get("name", "?")
    for cs in _container_statuses(pod):
        waiting = cs.get("state", {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in FAIL_FAST_REASONS:
            message = waiting.get("message", "").splitlines()[0:1]
            detail = f": {message[0]}" if message else ""
            return f"pod {name} {reason}{detail}"
        for ended in (
            cs.get("state", {}).get("terminated"),
            cs.get("lastState", {}).get("terminated"),
        ):
            if ended and ended.get("reason") in FAIL_FAST_TERMINATIONS:
                return f"pod {name} {ended['reason']} (container {cs.get('name', '?')})"
        if int(cs.get("restartCount", 0)) > restart_limit:
            return f"pod {name} restarted {cs['restartCount']} times"
    return ""


def pods_failure(pods: list[dict[str, Any]], restart_limit: int = 2) -> str:
    """The first pod_failure among `pods`, or ""."""
    for pod in pods:
        reason = pod_failure(pod, restart_limit)
        if reason:
            return reason
    return ""


def pod_state(pod: dict[str, Any]) -> str:
    """What a person wants to read about a pod: the real state, not the phase
    (CrashLoopBackOff, ImagePullBackOff, OOMKilled, Pending: Unschedulable, ...)."""
    metadata = pod.get("metadata", {})
    status = pod.get("status", {})
    if metadata.get("deletionTimestamp"):
        return "Terminating"
    restarts = sum(int(cs.get("restartCount", 0)) for cs in _container_statuses(pod))
    suffix = f" (restarts {restarts})" if restarts else ""
    for cs in _container_statuses(pod):
        waiting = cs.get("state", {}).get("waiting")
        if waiting and waiting.get("reason"):
            last = (cs.get("lastState", {}).get("terminated") or {}).get("reason")
            after = f", last {last}" if last and last != "Completed" else ""
            return f"{waiting['reason']}{after}{suffix}"
        terminated = cs.get("state", {}).get("terminated")
        if terminated and terminated.get("reason") not in (None, "Completed"):
            return f"{terminated['reason']}{suffix}"
    phase = status.get("phase", "Unknown")
    if phase == "Pending":
        for condition in status.get("conditions", []):
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                return f"Pending: {condition.get('reason', 'not scheduled')}"
        return "Pending"
    if phase == "Running":
        last_oom = any(
            (cs.get("lastState", {}).get("terminated") or {}).get("reason") == "OOMKilled"
            for cs in _container_statuses(pod)
        )
        readiness = "ready" if _is_ready(pod) else "not ready"
        return f"Running, {readiness}{', last OOMKilled' if last_oom else ''}{suffix}"
    return f"{phase}{suffix}"


def rollout_state(
    objects: list[dict[str, Any]],
    name: str,
    restart_limit: int = 2,
) -> dict[str, Any]:
    """State of the rollout of Deployment `name` from a list of Deployment,
    ReplicaSet and Pod objects (as from `kubectl get deploy,rs,pod -l ... -o json`).

    Returns {"state": "complete" | "progressing" | "failed", "reason": str,
    "current_pods": [ready pods of the current ReplicaSet], "old_ready_pods": [...],
    "replicas": int, "updated": int, "available": int}.
    """
    deployments = [
        o for o in objects if o.get("kind") == "Deployment" and o["metadata"]["name"] == name
    ]
    result: dict[str, Any] = {
        "state": "progressing",
        "reason": "",
        "current_pods": [],
        "old_ready_pods": [],
        "replicas": 0,
        "updated": 0,
        "available": 0,
    }
    if not deployments:
        result["reason"] = f"Deployment {name} not found"
        return result
    deployment = deployments[0]
    spec = deployment.get("spec", {})
    status = deployment.get("status", {})
    replicas = int(spec.get("replicas", 1))
    result.update(
        replicas=replicas,
        updated=int(status.get("updatedReplicas", 0)),
        available=int(status.get("availableReplicas", 0)),
    )
    replicasets = [
        o for o in objects if o.get("kind") == "ReplicaSet" and _owned_by_deployment(o, name)
    ]
    current_rs = _current_replicaset(deployment, replicasets)
    rs_names = {rs["metadata"]["name"] for rs in replicasets}
    # Only the Deployment's pods: a selector may also match other pods (migration Jobs).
    pods = [
        o for o in objects if o.get("kind") == "Pod" and any(_owned_by(o, rs) for rs in rs_names)
    ]
    current = [p for p in pods if current_rs and _owned_by(p, current_rs)]
    result["current_pods"] = sorted(p["metadata"]["name"] for p in current if _is_ready(p))
    result["old_ready_pods"] = sorted(
        p["metadata"]["name"] for p in pods if p not in current and _is_ready(p)
    )

    for condition in status.get("conditions", []):
        if condition.get("type") == "Progressing" and condition.get("reason") == (
            "ProgressDeadlineExceeded"
        ):
            result.update(
                state="failed", reason=f"ProgressDeadlineExceeded: {condition.get('message', '')}"
            )
            return result
    failure = pods_failure(current, restart_limit)
    if failure:
        result.update(state="failed", reason=failure)
        return result

    generation_seen = int(status.get("observedGeneration", 0)) >= int(
        deployment.get("metadata", {}).get("generation", 0)
    )
    if (
        generation_seen
        and int(status.get("updatedReplicas", 0)) == replicas
        and int(status.get("replicas", 0)) == replicas
        and int(status.get("availableReplicas", 0)) == replicas
        and len(result["current_pods"]) >= replicas
    ):
        result["state"] = "complete"
    else:
        result["reason"] = (
            f"{result['updated']}/{replicas} updated, {result['available']}/{replicas} available"
        )
    return result


def deployment_pods(objects: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The pods of Deployment `name` (through its ReplicaSets), sorted by name."""
    rs_names = {
        o["metadata"]["name"]
        for o in objects
        if o.get("kind") == "ReplicaSet" and _owned_by_deployment(o, name)
    }
    pods = [
        o for o in objects if o.get("kind") == "Pod" and any(_owned_by(o, rs) for rs in rs_names)
    ]
    return sorted(pods, key=lambda p: str(p["metadata"]["name"]))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "zdk_rollout_state": rollout_state,
            "zdk_pod_state": pod_state,
            "zdk_pods_failure": pods_failure,
            "zdk_deployment_pods": deployment_pods,
        }
