"""Filters for the verify role: judge a Deployment rollout from its objects."""

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


def _current_replicaset(deployment: dict[str, Any], replicasets: list[dict[str, Any]]) -> str:
    revision = (
        deployment.get("metadata", {})
        .get("annotations", {})
        .get("deployment.kubernetes.io/revision")
    )
    owned = [
        rs
        for rs in replicasets
        if any(
            ref.get("kind") == "Deployment"
            and ref.get("name") == deployment.get("metadata", {}).get("name")
            for ref in rs.get("metadata", {}).get("ownerReferences", [])
        )
    ]
    for rs in owned:
        rs_revision = (
            rs.get("metadata", {}).get("annotations", {}).get("deployment.kubernetes.io/revision")
        )
        if revision is not None and rs_revision == revision:
            return str(rs["metadata"]["name"])
    return ""


def rollout_state(
    objects: list[dict[str, Any]],
    name: str,
    fail_reasons: list[str] | None = None,
    restart_limit: int = 2,
) -> dict[str, Any]:
    """State of the rollout of Deployment `name` from a list of Deployment,
    ReplicaSet and Pod objects (as from `kubectl get deploy,rs,pod -l ... -o json`).

    Returns {"state": "complete" | "progressing" | "failed", "reason": str,
    "current_pods": [ready pods of the current ReplicaSet], "old_ready_pods": [...],
    "replicas": int, "updated": int, "available": int}.
    """
    reasons = tuple(fail_reasons) if fail_reasons else FAIL_FAST_REASONS
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
    current_rs = _current_replicaset(
        deployment, [o for o in objects if o.get("kind") == "ReplicaSet"]
    )
    pods = [o for o in objects if o.get("kind") == "Pod"]
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
    for pod in current:
        statuses = pod.get("status", {}).get("initContainerStatuses", []) + pod.get(
            "status", {}
        ).get("containerStatuses", [])
        for cs in statuses:
            waiting = cs.get("state", {}).get("waiting") or {}
            reason = waiting.get("reason", "")
            if reason in reasons:
                message = waiting.get("message", "").splitlines()[0:1]
                detail = f": {message[0]}" if message else ""
                result.update(
                    state="failed",
                    reason=f"pod {pod['metadata']['name']} {reason}{detail}",
                )
                return result
            if int(cs.get("restartCount", 0)) > restart_limit:
                result.update(
                    state="failed",
                    reason=f"pod {pod['metadata']['name']} restarted {cs['restartCount']} times",
                )
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


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"zdk_rollout_state": rollout_state}
