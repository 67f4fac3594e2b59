"""Every ci/*-values.yaml scenario renders, passes `helm lint --strict` and validates offline
against the Kubernetes v1.35 schemas (kubernetes-validate, strict: unknown fields fail)."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest

from ._chart import CACHE, CHART, CI_VALUES, REPO, helm, missing, one, render

KUBERNETES_VERSION = "1.35.8"  # the cluster's version (docs: design.md); schemas: v1.35.0
SCENARIOS = [None, *CI_VALUES]
IDS = ["default", *(p.name.removesuffix("-values.yaml") for p in CI_VALUES)]


def test_scenarios_present() -> None:
    names = {p.name for p in CI_VALUES}
    assert {
        "minimal-values.yaml",
        "production-values.yaml",
        "exec-prestop-values.yaml",
        "naive-values.yaml",
        "local-values.yaml",
    } <= names


def test_kubernetes_validate_ships_1_35_schemas() -> None:
    versions = kubernetes_validate.utils.all_versions()
    assert "1.35.0" in versions, versions


@pytest.mark.parametrize("values_file", SCENARIOS, ids=IDS)
def test_helm_lint_strict(values_file: Path | None) -> None:
    args = ["lint", "--strict", str(CHART)] + (["-f", str(values_file)] if values_file else [])
    result = helm(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    # helm lint only logs `fail` (lint mode): make sure no validation message was swallowed.
    assert "VALUES VALIDATION" not in result.stdout + result.stderr


@pytest.mark.parametrize("values_file", SCENARIOS, ids=IDS)
def test_manifests_validate_against_kubernetes_1_35(values_file: Path | None) -> None:
    manifests = render(files=[values_file] if values_file else [])
    assert manifests
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            name = f"{manifest['kind']}/{manifest['metadata']['name']}"
            pytest.fail(f"{name}: {error.message} at {'.'.join(map(str, error.path))}")


def test_local_scenario_matches_the_contracts() -> None:
    manifests = render(files=[CHART / "ci" / "local-values.yaml"])
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    c = deployment["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "127.0.0.1:5000/fastapi-app:0.0.1"
    assert {
        "name": "DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": "fastapi-app-database", "key": "DATABASE_URL"}},
    } in c["env"]
    service = one(manifests, "Service")["spec"]
    assert (service["type"], service["ports"][0]["nodePort"]) == ("NodePort", 30080)


def test_production_scenario_objects() -> None:
    manifests = render(files=[CHART / "ci" / "production-values.yaml"])
    kinds = {m["kind"] for m in manifests}
    assert {
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Ingress",
        "NetworkPolicy",
        "Job",
        "ConfigMap",
    } <= kinds
    assert "replicas" not in one(manifests, "Deployment")["spec"]


def test_readme_parameter_table_is_up_to_date(tmp_path: Path) -> None:
    """The README's parameter table is what `make chart-docs` generates from values.yaml."""
    if shutil.which("npm") is None:
        missing("npm not found: cannot install @bitnami/readme-generator-for-helm")
    prefix = CACHE / "node"
    install = subprocess.run(
        [str(REPO / "tests" / "chart" / "install-readme-generator.sh"), str(prefix)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if install.returncode != 0:
        missing(f"readme-generator-for-helm could not be installed: {install.stderr[-500:]}")
    readme = tmp_path / "README.md"
    shutil.copy(CHART / "README.md", readme)
    result = subprocess.run(
        [
            str(prefix / "node_modules" / ".bin" / "readme-generator"),
            "--values",
            str(CHART / "values.yaml"),
            "--readme",
            str(readme),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert filecmp.cmp(readme, CHART / "README.md", shallow=False), (
        "README is stale: run `make chart-docs`"
    )
