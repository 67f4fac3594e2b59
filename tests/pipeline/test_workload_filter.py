"""Names from what helm rendered (plugins/filter/workload.py), for any nameOverride or
fullnameOverride, checked on real renders of the chart."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import REPO, load_plugin

_plugin = load_plugin("filter/workload.py")
workload = _plugin.workload
manifest_objects = _plugin.manifest_objects
HELM = Path.home() / ".cache/fastapi-zdk/tools/bin/helm"


def render(release: str, *values: str) -> str:
    helm = str(HELM) if HELM.exists() else "helm"
    args = [helm, "template", release, str(REPO / "charts/fastapi-app"), "--namespace", "ns"]
    for value in values:
        args += ["--set", value]
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.mark.parametrize(
    ("release", "values", "name", "instance_name"),
    [
        ("fastapi-app", (), "fastapi-app", "fastapi-app"),
        ("shop", (), "shop-fastapi-app", "fastapi-app"),
        ("shop", ("fullnameOverride=other",), "other", "fastapi-app"),
        ("shop", ("nameOverride=api",), "shop-api", "api"),
    ],
)
def test_names_follow_the_render(
    release: str, values: tuple[str, ...], name: str, instance_name: str
) -> None:
    found = workload(render(release, *values))
    assert found["deployment"] == name
    assert found["service"] == name
    assert found["port"] == 8000
    assert found["selector"] == (
        f"app.kubernetes.io/instance={release},app.kubernetes.io/name={instance_name}"
    )


def test_a_manifest_without_a_deployment_is_refused() -> None:
    with pytest.raises(ValueError, match="expected one Deployment"):
        workload("kind: Service\nmetadata: {name: x}\n")


def test_port_and_version_path_follow_the_values() -> None:
    """Another app's port and version path reach verify from the render, not a guess."""
    found = workload(render("api", "containerPort=8080", "health.versionPath=/status"))
    assert (found["port"], found["version_path"]) == (8080, "/status")
    assert workload(render("api"))["version_path"] == "/health"


def test_manifest_objects_of_a_string_ansible_hands_a_filter() -> None:
    """Ansible passes a str subclass (a tagged string); libyaml takes only an exact str."""

    class Tagged(str):
        pass

    text = Tagged("---\nkind: ConfigMap\nmetadata: {name: a}\n---\n")
    assert manifest_objects(text) == [{"kind": "ConfigMap", "metadata": {"name": "a"}}]
