"""A pod to smoke-check outside the Service, made from a Deployment's pod template: the
new version before it is released (preview), or the version now serving, started on a
scratch copy of the migrated schema (N-1 check)."""

from __future__ import annotations

import copy
from typing import Any

CHECK_LABEL = "fastapi-zdk.io/check"


def check_pod(
    deployment: dict[str, Any],
    name: str,
    check: str,
    database_secret: str = "",
    database_key: str = "DATABASE_URL",
    image: str = "",
) -> dict[str, Any]:
    """The Deployment's pod template as a bare Pod named `name`, labelled only with
    `fastapi-zdk.io/check: <check>` (no Service, PDB or ReplicaSet selects it), never
    restarted, stopped within 2 s. With `database_secret`, every container reads
    DATABASE_URL from that Secret instead; with `image`, the first container runs it."""
    template = deployment["spec"]["template"]
    spec = copy.deepcopy(template["spec"])
    spec["restartPolicy"] = "Never"
    spec["terminationGracePeriodSeconds"] = 2
    for container in spec.get("containers", []):
        container.pop("lifecycle", None)
        if database_secret:
            env = [e for e in container.get("env") or [] if e.get("name") != "DATABASE_URL"]
            env.append(
                {
                    "name": "DATABASE_URL",
                    "valueFrom": {"secretKeyRef": {"name": database_secret, "key": database_key}},
                }
            )
            container["env"] = env
    if image:
        spec["containers"][0]["image"] = image
    labels = template.get("metadata", {}).get("labels") or {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": deployment["metadata"].get("namespace"),
            "labels": {
                CHECK_LABEL: check,
                "app.kubernetes.io/component": "smoke-check",
                **(
                    {"app.kubernetes.io/version": labels["app.kubernetes.io/version"]}
                    if "app.kubernetes.io/version" in labels
                    else {}
                ),
            },
        },
        "spec": spec,
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"zdk_check_pod": check_pod}
