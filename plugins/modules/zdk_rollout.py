#!/usr/bin/python
"""Read a Deployment's rollout in one call, without what its pod template holds."""

from __future__ import annotations

DOCUMENTATION = r"""
module: zdk_rollout
short_description: Read a Deployment, its ReplicaSets and pods for the rollout judgement
description:
  - Reads Deployment I(deployment) and the ReplicaSets and pods matching I(selector) in
    I(namespace) with one client (one process per poll instead of kubectl plus JSON).
  - Returns I(objects), the same list C(kubectl get deployment,replicaset,pod -o json)
    gives, reduced to what the zdk_rollout_state filter reads (names, owners, the revision
    annotation, replicas, generation, status); pod templates, labels and other annotations,
    which may hold chart values, are left out, so the result needs no no_log.
  - Returns I(rollout), the counts for the live rollout line, C(replicas), C(new_ready),
    C(old_ready) and C(not_ready) (new pods not ready yet).
options:
  namespace: {type: str, required: true, description: The Deployment's namespace.}
  deployment: {type: str, required: true, description: The Deployment's name.}
  selector: {type: str, required: true, description: Label selector of its ReplicaSets and pods.}
  kubeconfig: {type: path, description: Kubeconfig (else K8S_AUTH_KUBECONFIG or KUBECONFIG).}
  context: {type: str, description: Kubeconfig context (else its current one).}
author: fastapi-zdk
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.zdk_kube import KUBE_ARGS, api_client, api_reason

REVISION = "deployment.kubernetes.io/revision"


def _reduced(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    kept: dict[str, Any] = {
        "kind": kind,
        "metadata": {
            "name": metadata.get("name"),
            "generation": metadata.get("generation", 0),
            "ownerReferences": [
                {"kind": ref.get("kind"), "name": ref.get("name")}
                for ref in metadata.get("ownerReferences") or []
            ],
            "annotations": {REVISION: annotations[REVISION]} if REVISION in annotations else {},
        },
        "status": obj.get("status") or {},
    }
    if metadata.get("deletionTimestamp"):  # only when set, as the API gives it
        kept["metadata"]["deletionTimestamp"] = metadata["deletionTimestamp"]
    if kind != "Pod":
        kept["spec"] = {"replicas": (obj.get("spec") or {}).get("replicas", 1)}
    return kept


def _owner(obj: dict[str, Any], kind: str) -> str:
    for ref in obj["metadata"]["ownerReferences"]:
        if ref.get("kind") == kind:
            return str(ref.get("name"))
    return ""


def _ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod["status"].get("conditions") or []
    )


def counts(objects: list[dict[str, Any]], name: str) -> dict[str, int]:
    """New/old ready pods of Deployment `name` for a progress line (not a verdict)."""
    deployment = next(
        (o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name), None
    )
    if deployment is None:
        return {"replicas": 0, "new_ready": 0, "old_ready": 0, "not_ready": 0}
    revision = deployment["metadata"]["annotations"].get(REVISION)
    owned = {
        o["metadata"]["name"]: o["metadata"]["annotations"].get(REVISION) == revision
        for o in objects
        if o["kind"] == "ReplicaSet" and _owner(o, "Deployment") == name
    }
    new_ready = old_ready = not_ready = 0
    for pod in objects:
        rs = _owner(pod, "ReplicaSet") if pod["kind"] == "Pod" else ""
        if rs not in owned:
            continue
        if owned[rs]:
            if _ready(pod):
                new_ready += 1
            elif not pod["metadata"].get("deletionTimestamp"):
                not_ready += 1
        elif _ready(pod):
            old_ready += 1
    return {
        "replicas": int(deployment["spec"].get("replicas", 1)),
        "new_ready": new_ready,
        "old_ready": old_ready,
        "not_ready": not_ready,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "namespace": {"type": "str", "required": True},
            "deployment": {"type": "str", "required": True},
            "selector": {"type": "str", "required": True},
            **KUBE_ARGS,
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        from kubernetes import client

        api = api_client(p["kubeconfig"], p["context"])
        apps = client.AppsV1Api(api)
        core = client.CoreV1Api(api)
        objects: list[dict[str, Any]] = []
        try:
            deployment = apps.read_namespaced_deployment(p["deployment"], p["namespace"])
            objects.append(_reduced("Deployment", api.sanitize_for_serialization(deployment)))
        except client.ApiException as error:
            if error.status != 404:
                raise
        for kind, items in (
            (
                "ReplicaSet",
                apps.list_namespaced_replica_set(p["namespace"], label_selector=p["selector"]),
            ),
            ("Pod", core.list_namespaced_pod(p["namespace"], label_selector=p["selector"])),
        ):
            objects.extend(_reduced(kind, api.sanitize_for_serialization(i)) for i in items.items)
    except Exception as error:
        module.fail_json(msg=f"reading the rollout of {p['deployment']}: {api_reason(error)}")
    module.exit_json(changed=False, objects=objects, rollout=counts(objects, p["deployment"]))


if __name__ == "__main__":
    main()
