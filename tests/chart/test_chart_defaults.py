"""Every default of the chart, read from `helm template` with no values."""

from __future__ import annotations

from typing import Any

import yaml

from ._chart import (
    CHART,
    NAMESPACE,
    RELEASE,
    Manifest,
    container,
    env,
    objects,
    one,
    render_raw,
)


def _app_objects(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if "helm.sh/hook" not in m["metadata"].get("annotations", {})]


def test_default_objects(default_render: list[Manifest]) -> None:
    kinds = sorted(m["kind"] for m in _app_objects(default_render))
    assert kinds == ["Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]
    for kind in (
        "HorizontalPodAutoscaler",
        "Ingress",
        "NetworkPolicy",
        "ConfigMap",
        "Secret",
        "Job",
    ):
        assert not objects(default_render, kind), kind
    for m in default_render:
        assert m["metadata"]["namespace"] == NAMESPACE
        assert m["metadata"]["name"].startswith(RELEASE)


def test_values_yaml_defaults() -> None:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    lifecycle = values["lifecycle"]
    assert lifecycle["preStop"] == {"type": "sleep", "seconds": 10}
    assert (lifecycle["drainSeconds"], lifecycle["gracefulShutdownSeconds"]) == (5, 20)
    assert (lifecycle["marginSeconds"], lifecycle["keepAliveSeconds"]) == (5, 75)
    assert lifecycle["longestRequestSeconds"] == 10
    # null: computed from the timeline (preStop + drain + graceful + margin).
    assert values["terminationGracePeriodSeconds"] is None
    assert (values["command"], values["args"], values["containerPort"]) == ([], [], 8000)
    assert values["health"] == {"versionPath": "/health"}
    assert values["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": 0}
    assert values["app"]["greeting"] == "World"
    assert values["database"]["existingSecretKey"] == "DATABASE_URL"
    assert values["migrations"]["command"] == ["alembic", "upgrade", "head"]
    # statement_timeout < the Job's deadline (< the deploy's wait); a finished Job is
    # removed 10 minutes later, once the deploy has read its log.
    migrations = values["migrations"]
    assert (migrations["statementTimeoutSeconds"], migrations["activeDeadlineSeconds"]) == (
        240,
        300,
    )
    # A day: a deploy of the same image within it skips the migrations (its Job is kept).
    assert migrations["ttlSecondsAfterFinished"] == 86400


def test_deployment_rollout_defaults(default_render: list[Manifest]) -> None:
    spec = one(default_render, "Deployment")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
    }
    assert spec["minReadySeconds"] == 2
    assert spec["progressDeadlineSeconds"] == 300
    assert spec["revisionHistoryLimit"] == 5
    assert spec["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "fastapi-app",
        "app.kubernetes.io/instance": RELEASE,
    }


def test_container_command_and_shutdown_timeline(default_render: list[Manifest]) -> None:
    deployment = one(default_render, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    # The image's own command; the timings reach it through the environment.
    assert "command" not in c
    assert "args" not in c
    assert pod["terminationGracePeriodSeconds"] == 10 + 5 + 20 + 5
    assert c["lifecycle"] == {"preStop": {"sleep": {"seconds": 10}}}
    e = env(c)
    assert e["APP_DRAIN_SECONDS"] == "5"
    assert e["UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN"] == "20"
    assert e["UVICORN_TIMEOUT_KEEP_ALIVE"] == "75"
    assert (e["UVICORN_HOST"], e["UVICORN_PORT"]) == ("0.0.0.0", "8000")
    assert deployment["metadata"]["annotations"] == {"fastapi-zdk.io/version-path": "/health"}
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert c["image"] == "fastapi-app:0.0.1"
    assert c["imagePullPolicy"] == "IfNotPresent"


def test_container_env(default_render: list[Manifest]) -> None:
    e = env(container(one(default_render, "Deployment")))
    assert e["APP_GREETING"] == "World"
    assert e["APP_REVISION"] == "unknown"
    assert e["APP_WARMUP_SECONDS"] == "0"
    assert e["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert e["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert "DATABASE_URL" not in e
    assert "APP_VERSION" not in e, "APP_VERSION is baked into the image"


def test_probes(default_render: list[Manifest]) -> None:
    c = container(one(default_render, "Deployment"))
    assert c["startupProbe"] == {
        "httpGet": {"path": "/health/ready", "port": "http"},
        "initialDelaySeconds": 0,
        "periodSeconds": 1,
        "timeoutSeconds": 2,
        "failureThreshold": 60,
    }
    assert c["readinessProbe"] == {
        "httpGet": {"path": "/health/ready", "port": "http"},
        "initialDelaySeconds": 0,
        "periodSeconds": 2,
        "timeoutSeconds": 2,
        "successThreshold": 1,
        "failureThreshold": 2,
    }
    assert c["livenessProbe"] == {
        "httpGet": {"path": "/health/live", "port": "http"},
        "initialDelaySeconds": 0,
        "periodSeconds": 10,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def test_secure_pod(default_render: list[Manifest]) -> None:
    deployment = one(default_render, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "fastapi-app"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert c["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
        "limits": {"cpu": "1", "memory": "256Mi", "ephemeral-storage": "256Mi"},
    }
    sa = one(default_render, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False


def test_topology_spread(default_render: list[Manifest]) -> None:
    pod = one(default_render, "Deployment")["spec"]["template"]["spec"]
    assert pod["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "fastapi-app",
                    "app.kubernetes.io/instance": RELEASE,
                }
            },
            "matchLabelKeys": ["pod-template-hash"],
        }
    ]


def test_service(default_render: list[Manifest]) -> None:
    spec = one(default_render, "Service")["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert spec["selector"] == {
        "app.kubernetes.io/name": "fastapi-app",
        "app.kubernetes.io/instance": RELEASE,
    }


def test_pdb_on_by_default(default_render: list[Manifest]) -> None:
    spec = one(default_render, "PodDisruptionBudget")["spec"]
    assert spec["maxUnavailable"] == 1
    assert "minAvailable" not in spec
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_helm_test_pod(default_render: list[Manifest]) -> None:
    pod = one(default_render, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    c = pod["spec"]["containers"][0]
    assert c["image"] == "fastapi-app:0.0.1", "the test uses the app image (it has python)"
    assert c["command"][:2] == ["python", "-c"]
    assert "urllib.request" in c["command"][2]
    assert 'body.get("version")' in c["command"][2]
    e = env(c)
    assert e["HEALTH_URL"] == f"http://{RELEASE}.{NAMESPACE}.svc:80/health"
    assert e["EXPECTED_VERSION"] == "0.0.1"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    # The Service must never route to the test pod.
    assert "app.kubernetes.io/name" not in pod["metadata"]["labels"]


def test_pod_template_is_stable_across_releases() -> None:
    """Re-deploying the same version must not roll the pods."""

    def pod_template(*extra: str) -> Any:  # uncached: two real renders
        result = render_raw(extra=extra)
        assert result.returncode == 0, result.stderr
        docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return one(docs, "Deployment")["spec"]["template"]

    first = pod_template()
    assert pod_template() == first
    assert pod_template("--is-upgrade") == first
    labels = first["metadata"]["labels"]
    assert "helm.sh/chart" not in labels
    assert labels["app.kubernetes.io/version"] == "0.0.1"
    assert "annotations" not in first["metadata"]


def test_no_per_release_data_in_templates() -> None:
    for template in (CHART / "templates").rglob("*"):
        if template.is_file():
            text = template.read_text()
            for forbidden in ("Release.Revision", "randAlphaNum", "uuidv4", "now"):
                assert f" {forbidden}" not in text, f"{template.name} uses {forbidden}"
                assert f".{forbidden}" not in text, f"{template.name} uses {forbidden}"
