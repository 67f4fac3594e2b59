"""Every pod the chart makes requests and limits ephemeral-storage by default, and the
/tmp emptyDir fits inside the limits."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from ._chart import CHART, REPO, container, load_plugin, objects, one, render, render_error

UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
# The kubelet's default log rotation (containerLogMaxFiles x containerLogMaxSize): the
# app's stdout logs on the node count against its ephemeral-storage.
LOGS = 5 * 10 * 2**20


def quantity(value: str) -> int:
    match = re.fullmatch(r"([0-9]+)(|k|M|G|Ki|Mi|Gi)", value)
    assert match, value
    return int(match[1]) * UNITS[match[2]]


def _pods(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    pods = {"deployment": one(manifests, "Deployment")["spec"]["template"]["spec"]}
    for job in objects(manifests, "Job"):
        pods["migration-job"] = job["spec"]["template"]["spec"]
    for pod in objects(manifests, "Pod"):
        pods["helm-test"] = pod["spec"]
    return pods


MIGRATIONS = {"migrations": {"enabled": True}, "database": {"existingSecret": "db"}}


def test_every_container_has_ephemeral_storage() -> None:
    pods = _pods(render(MIGRATIONS))
    assert set(pods) == {"deployment", "migration-job", "helm-test"}
    for name, pod in pods.items():
        for c in pod["containers"]:
            for kind in ("requests", "limits"):
                assert "ephemeral-storage" in c["resources"][kind], f"{name} {kind}"
            request = quantity(c["resources"]["requests"]["ephemeral-storage"])
            assert request <= quantity(c["resources"]["limits"]["ephemeral-storage"]), name


def test_tmp_fits_in_the_limits() -> None:
    pods = _pods(render(MIGRATIONS))
    for name in ("deployment", "migration-job"):
        pod = pods[name]
        [tmp] = [v for v in pod["volumes"] if v["name"] == "tmp"]
        size = quantity(tmp["emptyDir"]["sizeLimit"])
        limit = sum(
            quantity(c["resources"]["limits"]["ephemeral-storage"]) for c in pod["containers"]
        )
        assert size < limit, name
    app = pods["deployment"]["containers"][0]
    tmp = quantity(pods["deployment"]["volumes"][0]["emptyDir"]["sizeLimit"])
    assert tmp + LOGS < quantity(app["resources"]["limits"]["ephemeral-storage"])


def test_defaults() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["tmpVolume"] == {"sizeLimit": "64Mi"}
    app = values["resources"]
    assert (app["requests"]["ephemeral-storage"], app["limits"]["ephemeral-storage"]) == (
        "64Mi",
        "256Mi",
    )
    job = values["migrations"]["resources"]
    assert (job["requests"]["ephemeral-storage"], job["limits"]["ephemeral-storage"]) == (
        "32Mi",
        "128Mi",
    )
    test_pod = one(render(), "Pod")["spec"]["containers"][0]["resources"]
    assert test_pod["requests"]["ephemeral-storage"] == "8Mi"
    assert test_pod["limits"]["ephemeral-storage"] == "32Mi"


def test_a_cpu_and_memory_override_keeps_ephemeral_storage() -> None:
    """deploy.yml passes the inventory's zdk_resources as `resources`: Helm merges maps."""
    resources = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
    c = container(one(render({"resources": resources}), "Deployment"))
    assert c["resources"]["requests"]["ephemeral-storage"] == "64Mi"
    assert c["resources"]["limits"]["ephemeral-storage"] == "256Mi"


@pytest.mark.parametrize("inventory", ["production", "staging"])
def test_inventories_set_ephemeral_storage(inventory: str) -> None:
    path = REPO / "inventory" / inventory / "group_vars/all/main.yml"
    resources = yaml.safe_load(path.read_text())["zdk_resources"]
    for kind in ("requests", "limits"):
        assert "ephemeral-storage" in resources[kind], f"{inventory} zdk_resources.{kind}"
    c = container(one(render({"resources": resources}), "Deployment"))
    assert c["resources"] == resources


@pytest.mark.parametrize(
    ("values", "where"),
    [
        (
            {"resources": {"limits": {"ephemeral-storage": "lots"}}},
            "/resources/limits/ephemeral-storage",
        ),
        (
            {"migrations": {"resources": {"requests": {"ephemeral-storage": "1 GB"}}}},
            "/migrations/resources/requests/ephemeral-storage",
        ),
        ({"resources": {"limit": {"cpu": "1"}}}, "additional properties 'limit' not allowed"),
        ({"tmpVolume": {"sizeLimit": "big"}}, "/tmpVolume/sizeLimit"),
    ],
)
def test_quantities_are_validated(values: dict[str, Any], where: str) -> None:
    assert where in render_error(values)


@pytest.mark.parametrize("inventory", ["production", "staging"])
def test_preview_and_n1_pods_keep_the_resources_and_tmp(inventory: str) -> None:
    """The deploy kit's preview and N-1 serving pods are zdk_check_pod of a Deployment the
    chart rendered: they keep its container resources and its /tmp emptyDir."""
    path = REPO / "inventory" / inventory / "group_vars/all/main.yml"
    resources = yaml.safe_load(path.read_text())["zdk_resources"]
    deployment = one(render({"resources": resources}), "Deployment")
    pod = load_plugin("filter/check_pod.py").check_pod(
        deployment, "app-preview", "preview", "scratch"
    )
    [c] = pod["spec"]["containers"]
    assert c["resources"] == resources
    assert pod["spec"]["volumes"] == deployment["spec"]["template"]["spec"]["volumes"]
