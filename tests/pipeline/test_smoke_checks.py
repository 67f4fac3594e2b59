"""The judgement behind smoke checks and the analysis window (plugins/module_utils/
zdk_smoke.py) and the check pod (plugins/filter/check_pod.py). The real thing runs in
tests/e2e/test_checks.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import load_plugin

smoke = load_plugin("module_utils/zdk_smoke.py")
check_pod = load_plugin("filter/check_pod.py")
workload = load_plugin("filter/workload.py")

EXPOSITION = """\
# HELP http_requests_total HTTP requests answered, by status code
# TYPE http_requests_total counter
http_requests_total{status="200"} 90.0
http_requests_total{status="404"} 4.0
http_requests_total{status="500"} 5.0
http_requests_total{status="503"} 1.0
http_requests_created{status="200"} 1.7e+09
process_cpu_seconds_total 1.2
"""


def test_request_counts_sum_every_status_and_count_5xx() -> None:
    assert smoke.request_counts(EXPOSITION, "http_requests_total") == (100.0, 6.0)
    assert smoke.request_counts(EXPOSITION, "http_requests") == (100.0, 6.0)


def test_request_counts_of_an_instrumentator_style_metric() -> None:
    text = (
        'http_requests_total{handler="/a",method="GET",status="2xx"} 10\n'
        'http_requests_total{handler="/a",method="GET",status="5xx"} 2\n'
    )
    assert smoke.request_counts(text, "http_requests_total") == (12.0, 2.0)


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        ({"path": "/endpoint"}, ""),
        ({"method": "post", "path": "/items", "body": {"name": "x"}, "status": 201}, ""),
        ({"path": "endpoint"}, "path must start with /"),
        ({"path": "/a b"}, "path must start with /"),
        ({"path": "/", "method": "FETCH"}, "unknown method"),
        ({"path": "/", "status": 999}, "status must be an HTTP status code"),
        ("GET /", "not a mapping"),
    ],
)
def test_check_definitions(check: Any, problem: str) -> None:
    found = smoke.check_problem(check)
    assert (problem in found) if problem else found == ""


def pod(
    restarts: int = 0, ready: bool = True, leaving: bool = False, reason: str = ""
) -> dict[str, Any]:
    status: dict[str, Any] = {"name": "app", "restartCount": restarts}
    if reason:
        status["lastState"] = {"terminated": {"reason": reason, "exitCode": 137}}
    return {
        "metadata": {"name": "p", **({"deletionTimestamp": "now"} if leaving else {})},
        "status": {
            "phase": "Running",
            "containerStatuses": [status],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_a_restart_fails_with_its_reason() -> None:
    watch = smoke.PodWatch("p", {"app": 0}, was_ready=True)
    assert smoke.pod_problem(watch, pod()) == ""
    assert (
        smoke.pod_problem(watch, pod(restarts=1, reason="OOMKilled"))
        == "pod p restarted (app: OOMKilled, exit 137)"
    )


def test_a_readiness_flip_fails_but_a_pod_not_yet_ready_does_not() -> None:
    starting = smoke.PodWatch("p", {"app": 0}, was_ready=False)
    assert smoke.pod_problem(starting, pod(ready=False)) == ""
    serving = smoke.PodWatch("p", {"app": 0}, was_ready=True)
    assert smoke.pod_problem(serving, pod(ready=False)) == "pod p became unready"


def test_a_pod_being_deleted_is_not_a_failure() -> None:
    serving = smoke.PodWatch("p", {"app": 0}, was_ready=True)
    assert smoke.pod_problem(serving, pod(ready=False, leaving=True)) == ""


def test_the_5xx_share_is_judged_from_min_requests_on() -> None:
    tally = smoke.Tally()
    tally.pods["a"] = smoke.PodWatch("a", {}, True, first_counts=(10, 0), last_counts=(20, 3))
    assert tally.totals() == (10, 3)
    assert tally.error_problem(0.05, 20) == ""
    assert "3 of 10 requests answered 5xx" in tally.error_problem(0.05, 10)
    assert tally.error_problem(0.5, 10) == ""


def test_the_check_pod_is_outside_every_selector_and_reads_the_scratch_database() -> None:
    deployment: dict[str, Any] = {
        "metadata": {"name": "other", "namespace": "ns"},
        "spec": {
            "template": {
                "metadata": {
                    "labels": {
                        "app.kubernetes.io/name": "fastapi-app",
                        "app.kubernetes.io/instance": "shop",
                        "app.kubernetes.io/version": "0.0.2",
                    }
                },
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "old",
                            "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                            "env": [
                                {"name": "A", "value": "1"},
                                {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {}}},
                            ],
                        }
                    ]
                },
            }
        },
    }
    made = check_pod.check_pod(deployment, "shop-n1", "n1", "scratch", image="new")
    assert made["metadata"]["labels"] == {
        "fastapi-zdk.io/check": "n1",
        "app.kubernetes.io/component": "smoke-check",
        "app.kubernetes.io/version": "0.0.2",
    }
    container = made["spec"]["containers"][0]
    assert container["image"] == "new"
    assert "lifecycle" not in container
    assert container["env"] == [
        {"name": "A", "value": "1"},
        {
            "name": "DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": "scratch", "key": "DATABASE_URL"}},
        },
    ]
    assert made["spec"]["restartPolicy"] == "Never"
    # The Deployment itself is untouched.
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "old"


def test_the_preview_pod_reads_its_own_copies_of_the_rendered_config_and_secrets() -> None:
    """A preview runs before the release: the chart's ConfigMap/Secret (configEnv,
    secretEnv) must be those rendered now, as copies of its own, not the release's (old
    values, or missing on a first install). An existing Secret the chart does not render
    (the database's) stays as it is."""
    container = {
        "name": "app",
        "envFrom": [{"configMapRef": {"name": "shop-env"}}, {"secretRef": {"name": "shop-env"}}],
        "env": [
            {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "URL"}}},
        ],
    }
    deployment: dict[str, Any] = {
        "metadata": {"name": "shop", "namespace": "ns"},
        "spec": {"template": {"metadata": {"labels": {}}, "spec": {"containers": [container]}}},
    }
    manifest = [
        {"kind": "ConfigMap", "metadata": {"name": "shop-env"}, "data": {"A": "new"}},
        {
            "kind": "Secret",
            "metadata": {"name": "shop-env", "labels": {"x": "y"}},
            "data": {"K": "bmV3"},
        },
        {"kind": "Service", "metadata": {"name": "shop-env"}},
    ]
    made = check_pod.check_pod_env(
        check_pod.check_pod(deployment, "shop-preview", "preview"), manifest
    )
    spec = made["pod"]["spec"]["containers"][0]
    assert spec["envFrom"] == [
        {"configMapRef": {"name": "shop-preview-shop-env"}},
        {"secretRef": {"name": "shop-preview-shop-env"}},
    ]
    assert spec["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "db"
    assert [(o["kind"], o["metadata"]["name"]) for o in made["objects"]] == [
        ("ConfigMap", "shop-preview-shop-env"),
        ("Secret", "shop-preview-shop-env"),
    ]
    assert made["objects"][1]["data"] == {"K": "bmV3"}
    assert made["objects"][1]["metadata"]["labels"] == made["pod"]["metadata"]["labels"]
    # The input pod is left as it was.
    assert deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"][0] == {
        "configMapRef": {"name": "shop-env"}
    }
    # helm's output as text, parsed by the kit's one parser as deploy.yml does, gives the
    # same pod and objects; an empty document (helm's `---` between templates) is no object.
    as_text = "---\n" + "\n---\n".join(json.dumps(doc) for doc in manifest) + "\n---\n"
    parsed = workload.manifest_objects(as_text)
    assert parsed == manifest
    assert (
        check_pod.check_pod_env(check_pod.check_pod(deployment, "shop-preview", "preview"), parsed)
        == made
    )


class _NoDeepCopy(dict):  # type: ignore[type-arg]
    """Like ansible-core's lazy containers, whose deep copy copies the templar with every
    variable of the play: the filters must copy item by item instead."""

    def __deepcopy__(self, memo: Any) -> Any:
        raise AssertionError("deep-copied a filter argument")


def _no_deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return _NoDeepCopy({k: _no_deep_copy(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_no_deep_copy(v) for v in value]
    return value


def test_the_check_pod_filters_copy_their_arguments_without_deepcopy() -> None:
    container = {"name": "app", "envFrom": [{"configMapRef": {"name": "shop-env"}}]}
    deployment = {
        "metadata": {"name": "shop", "namespace": "ns"},
        "spec": {"template": {"metadata": {"labels": {}}, "spec": {"containers": [container]}}},
    }
    manifest = [{"kind": "ConfigMap", "metadata": {"name": "shop-env"}, "data": {"A": "1"}}]
    lazy_deployment, lazy_manifest = _no_deep_copy(deployment), _no_deep_copy(manifest)
    made = check_pod.check_pod_env(
        check_pod.check_pod(lazy_deployment, "shop-preview", "preview"), lazy_manifest
    )
    assert made == check_pod.check_pod_env(
        check_pod.check_pod(deployment, "shop-preview", "preview"), manifest
    )
    assert made["objects"][0]["data"] == {"A": "1"}
    # Copies, not the arguments themselves: the arguments stay as they were.
    made["objects"][0]["data"]["A"] = "changed"
    made["pod"]["spec"]["containers"][0]["name"] = "changed"
    assert lazy_manifest[0]["data"] == {"A": "1"}
    assert lazy_deployment["spec"]["template"]["spec"]["containers"][0]["name"] == "app"
