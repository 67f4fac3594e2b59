"""A pod to smoke-check outside the Service, made from a Deployment's pod template: the
new version before it is released (preview), or the version now serving, started on a
scratch copy of the migrated schema (N-1 check)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CHECK_LABEL = "fastapi-zdk.io/check"


def _plain(value: Any) -> Any:
    """A copy of `value` made of plain dicts and lists. Not copy.deepcopy: on ansible-core
    2.19+ a filter receives lazy containers, and each of their deep copies copies the
    templar with every variable of the play (0.1 s or more per filter call in a deploy)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


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
    spec = _plain(template["spec"])
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


def _ref_holders(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(kind, object, key) of every place a pod spec names a ConfigMap or Secret."""
    found: list[tuple[str, dict[str, Any], str]] = []
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                found.append(("ConfigMap", source["configMapRef"], "name"))
            if "secretRef" in source:
                found.append(("Secret", source["secretRef"], "name"))
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            if "configMapKeyRef" in value_from:
                found.append(("ConfigMap", value_from["configMapKeyRef"], "name"))
            if "secretKeyRef" in value_from:
                found.append(("Secret", value_from["secretKeyRef"], "name"))
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            found.append(("ConfigMap", volume["configMap"], "name"))
        if "secret" in volume:
            found.append(("Secret", volume["secret"], "secretName"))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                found.append(("ConfigMap", source["configMap"], "name"))
            if "secret" in source:
                found.append(("Secret", source["secret"], "name"))
    return found


def check_pod_env(pod: dict[str, Any], manifest: list[dict[str, Any]]) -> dict[str, Any]:
    """The check pod with its own copies of the ConfigMaps and Secrets that this release
    renders and the pod reads (configEnv, secretEnv, ...): {"pod": ..., "objects": [...]}.

    A preview pod runs before the release, so the release's own objects still hold the
    serving version's values, or do not exist yet on a first install. The copies are named
    `<pod>-<name>` and labelled like the pod; objects the chart does not render (an
    existing database Secret) are read as they are."""
    pod = _plain(pod)
    name = pod["metadata"]["name"]
    rendered = {
        (doc["kind"], doc["metadata"]["name"]): doc
        for doc in manifest
        if isinstance(doc, dict) and doc.get("kind") in ("ConfigMap", "Secret")
    }
    copies: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, holder, key in _ref_holders(pod["spec"]):
        original = rendered.get((kind, holder.get(key, "")))
        if original is None:
            continue
        own = f"{name}-{holder[key]}"[:253].rstrip("-.")
        if (kind, own) not in copies:
            duplicate = _plain(original)
            duplicate["metadata"] = {
                "name": own,
                "namespace": pod["metadata"].get("namespace"),
                "labels": dict(pod["metadata"].get("labels") or {}),
            }
            copies[(kind, own)] = duplicate
        holder[key] = own
    return {"pod": pod, "objects": list(copies.values())}


def object_ref(obj: dict[str, Any]) -> dict[str, Any]:
    """An object by reference only (apiVersion, kind, name, namespace): what a delete
    needs, without the spec or data it holds."""
    metadata = obj.get("metadata") or {}
    ref: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj["kind"],
        "metadata": {"name": metadata["name"]},
    }
    if metadata.get("namespace"):
        ref["metadata"]["namespace"] = metadata["namespace"]
    return ref


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "zdk_check_pod": check_pod,
            "zdk_check_pod_env": check_pod_env,
            "zdk_object_ref": object_ref,
        }
