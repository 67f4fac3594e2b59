"""Every ci/*-values.yaml scenario renders, passes `helm lint --strict` and validates offline
against the Kubernetes v1.35 schemas (kubernetes-validate, strict: unknown fields fail); an
HTTPRoute against the Gateway API CRD the local cluster installs (strict the same way)."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

# kubernetes-validate's own validator library (no type stubs in this venv).
import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import pytest
import yaml

from ._chart import CACHE, CHART, CI_VALUES, REPO, Manifest, helm, missing, one, render

KUBERNETES_VERSION = "1.35.8"  # the cluster's version (docs: design.md); schemas: v1.35.0
SCENARIOS = [None, *CI_VALUES]
IDS = ["default", *(p.name.removesuffix("-values.yaml") for p in CI_VALUES)]
LOCAL_CLUSTER_DEFAULTS = REPO / "roles" / "local_cluster" / "defaults" / "main.yml"
HTTPROUTE_CRD = "gateway.networking.k8s.io_httproutes.yaml"


def _gateway_api_crd(workdir: Path) -> dict[str, Any]:
    """The HTTPRoute CRD of the Gateway API release the local cluster installs: from the
    cluster's cache, else from the Go module (the module cache, or the Go module proxy)."""
    version = yaml.safe_load(LOCAL_CLUSTER_DEFAULTS.read_text()).get(
        "local_cluster_gateway_api_version"
    )
    if not version:
        missing("roles/local_cluster/defaults/main.yml names no local_cluster_gateway_api_version")
    bundle = CACHE / "bin" / f"gateway-api-{version}" / "standard-install.yaml"
    if bundle.is_file():
        for doc in yaml.safe_load_all(bundle.read_text()):
            if doc and doc["metadata"]["name"] == "httproutes.gateway.networking.k8s.io":
                return dict(doc)
    go = shutil.which("go")
    if go is None:
        missing(f"no Gateway API {version} CRDs ({bundle} missing, no go to fetch the module)")
        raise AssertionError("unreachable")
    result = subprocess.run(
        [go, "mod", "download", "-json", f"sigs.k8s.io/gateway-api@{version}"],
        cwd=workdir,
        env={**os.environ, "GOFLAGS": "", "GO111MODULE": "on"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        missing(f"go mod download sigs.k8s.io/gateway-api@{version}: {result.stderr[-500:]}")
    crd = Path(json.loads(result.stdout)["Dir"]) / "config" / "crd" / "standard" / HTTPROUTE_CRD
    return dict(yaml.safe_load(crd.read_text()))


def _strict(schema: Any) -> Any:
    """Unknown fields fail, as kubernetes-validate's strict mode does for built-in kinds."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@pytest.fixture(scope="session")
def httproute_validator(
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    crd = _gateway_api_crd(tmp_path_factory.mktemp("go"))
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    assert version["served"], "gateway.networking.k8s.io/v1 HTTPRoute is not served"
    schema = _strict(version["schema"]["openAPIV3Schema"])
    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft7Validator)
    return validator_class(schema)


def _validate(manifest: Manifest, request: pytest.FixtureRequest) -> None:
    name = f"{manifest['kind']}/{manifest['metadata']['name']}"
    if manifest["apiVersion"] == "gateway.networking.k8s.io/v1":
        assert manifest["kind"] == "HTTPRoute", name
        validator = request.getfixturevalue("httproute_validator")
        errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
        if errors:
            where = ".".join(map(str, errors[0].absolute_path))
            pytest.fail(f"{name}: {errors[0].message} at {where}")
        return
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{name}: {error.message} at {'.'.join(map(str, error.path))}")


def test_scenarios_present() -> None:
    names = {p.name for p in CI_VALUES}
    assert {
        "minimal-values.yaml",
        "production-values.yaml",
        "exec-prestop-values.yaml",
        "naive-values.yaml",
        "local-values.yaml",
        "httproute-values.yaml",
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
def test_manifests_validate_against_kubernetes_1_35(
    values_file: Path | None, request: pytest.FixtureRequest
) -> None:
    manifests = render(files=[values_file] if values_file else [])
    assert manifests
    for manifest in manifests:
        _validate(manifest, request)


def test_the_crd_check_is_strict(httproute_validator: Any) -> None:
    """The HTTPRoute check catches what the API server would refuse."""
    route = one(render(files=[CHART / "ci" / "httproute-values.yaml"]), "HTTPRoute")
    assert not list(httproute_validator.iter_errors(route))
    unknown = {**route, "spec": {**route["spec"], "gateway": "traefik"}}
    assert list(httproute_validator.iter_errors(unknown)), "unknown fields must fail"
    too_many = {**route, "spec": {**route["spec"], "hostnames": ["a.example"] * 17}}
    assert list(httproute_validator.iter_errors(too_many)), "maxItems must hold"


def test_httproute_scenario() -> None:
    manifests = render(files=[CHART / "ci" / "httproute-values.yaml"])
    assert not [m for m in manifests if m["kind"] == "Ingress"]
    spec = one(manifests, "HTTPRoute")["spec"]
    assert spec["parentRefs"] == [{"name": "traefik", "namespace": "traefik", "sectionName": "web"}]
    assert spec["hostnames"] == ["api.fastapi-app.local"]
    assert [r["backendRefs"] for r in spec["rules"]] == [[{"name": "fastapi-app", "port": 80}]] * 2


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
    ingress = one(manifests, "Ingress")["spec"]
    assert ingress["ingressClassName"] == "traefik"
    assert [r["host"] for r in ingress["rules"]] == ["fastapi-app.local"]


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
