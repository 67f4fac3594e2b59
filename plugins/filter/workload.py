"""Names of the objects a release runs, read from what helm rendered (a dry run, or a
revision's manifest), so that no playbook guesses them: whatever nameOverride,
fullnameOverride or release name the chart was given, verify and status find the
Deployment, its pods, its Service and the port and path to ask for the version."""

from __future__ import annotations

from typing import Any

import yaml

# The chart writes health.versionPath here; manifests of older charts lack it.
VERSION_PATH_ANNOTATION = "fastapi-zdk.io/version-path"
DEFAULT_VERSION_PATH = "/health"


# libyaml when PyYAML has it: a release's manifest is parsed on every verify and status.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def manifest_objects(manifest: Any) -> list[dict[str, Any]]:
    """The objects of a rendered manifest: helm's text (YAML documents) parsed, or a list
    of objects as it is. Empty documents (helm's `---` between templates) are dropped."""
    if isinstance(manifest, str):
        # str(): libyaml takes only an exact str, and Ansible hands filters a subclass of it.
        return [d for d in yaml.load_all(str(manifest), Loader=_LOADER) if isinstance(d, dict)]
    return [d for d in manifest or [] if isinstance(d, dict)]


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _port_number(container: dict[str, Any], port_name: str) -> int:
    ports = container.get("ports") or []
    for port in ports:
        if port.get("name") == port_name:
            return int(port["containerPort"])
    if ports:
        return int(ports[0]["containerPort"])
    raise ValueError(f"container {container.get('name', '?')} declares no port")


def workload(manifest: Any, port_name: str = "http") -> dict[str, Any]:
    """The release's Deployment and Service from its rendered manifest (a string of
    YAML documents or a list of objects):

    {"deployment": name, "selector": "k=v,k=v", "match_labels": {...},
     "service": name or "", "port": container port number, "container": name,
     "version_path": path whose JSON names the version}

    Raises ValueError when the manifest holds no Deployment, or several."""
    docs = manifest_objects(manifest)
    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    if len(deployments) != 1:
        found = ", ".join(d.get("metadata", {}).get("name", "?") for d in deployments) or "none"
        raise ValueError(f"expected one Deployment in the release, found {found}")
    deployment = deployments[0]
    match_labels: dict[str, str] = deployment["spec"]["selector"].get("matchLabels") or {}
    pod_labels: dict[str, str] = deployment["spec"]["template"]["metadata"].get("labels") or {}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    services = [
        d
        for d in docs
        if d.get("kind") == "Service"
        and _matches(d.get("spec", {}).get("selector") or {}, pod_labels)
    ]
    return {
        "deployment": deployment["metadata"]["name"],
        "selector": ",".join(f"{k}={v}" for k, v in sorted(match_labels.items())),
        "match_labels": match_labels,
        "service": services[0]["metadata"]["name"] if services else "",
        "port": _port_number(container, port_name),
        "container": container.get("name", ""),
        "version_path": (deployment["metadata"].get("annotations") or {}).get(
            VERSION_PATH_ANNOTATION, DEFAULT_VERSION_PATH
        ),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"zdk_workload": workload, "zdk_manifest_objects": manifest_objects}
