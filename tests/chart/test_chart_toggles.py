"""Every switch of the chart changes the rendered objects the way it says."""

from __future__ import annotations

from typing import Any

import pytest

from ._chart import CHART, NAMESPACE, RELEASE, container, env, helm, objects, one, render

DB_URL = "postgresql+psycopg://app:secret@db:5432/app"
HOSTS = [{"host": "api.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}]


def _deployment(values: dict[str, Any]) -> dict[str, Any]:
    return one(render(values), "Deployment")


@pytest.mark.parametrize(
    ("lifecycle", "grace", "expected"),
    [
        ({"preStop": {"type": "exec", "seconds": 7}}, 45, {"exec": {"command": ["sleep", "7"]}}),
        ({"preStop": {"type": "sleep", "seconds": 3}}, 45, {"sleep": {"seconds": 3}}),
        ({"preStop": {"type": "none", "seconds": 10}}, 45, None),
    ],
)
def test_prestop_types(lifecycle: dict[str, Any], grace: int, expected: Any) -> None:
    c = container(_deployment({"lifecycle": lifecycle, "terminationGracePeriodSeconds": grace}))
    assert c.get("lifecycle", {}).get("preStop") == expected


def test_timings_flow_into_command_env_and_grace_period() -> None:
    values = {
        "lifecycle": {
            "preStop": {"type": "sleep", "seconds": 15},
            "drainSeconds": 8,
            "gracefulShutdownSeconds": 30,
            "marginSeconds": 7,
            "keepAliveSeconds": 120,
        },
        "terminationGracePeriodSeconds": 60,
    }
    deployment = _deployment(values)
    c = container(deployment)
    e = env(c)
    assert e["UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN"] == "30"
    assert e["UVICORN_TIMEOUT_KEEP_ALIVE"] == "120"
    assert e["APP_DRAIN_SECONDS"] == "8"
    assert c["lifecycle"]["preStop"] == {"sleep": {"seconds": 15}}
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 60
    del values["terminationGracePeriodSeconds"]
    computed = _deployment(values)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert computed == 15 + 8 + 30 + 7


def test_app_not_tied_to_the_sample() -> None:
    """Another app: its own command, port and health paths (docs/adopt.md)."""
    command = ["gunicorn", "-c", "python:fastapi_zdk.gunicorn_conf", "main:app"]
    deployment = _deployment(
        {
            "command": command,
            "args": ["--log-level", "info"],
            "containerPort": 8080,
            "health": {"versionPath": "/status"},
            "probes": {
                "startup": {"path": "/status/ready"},
                "readiness": {"path": "/status/ready"},
                "liveness": {"path": "/status/live", "periodSeconds": 5},
            },
        }
    )
    c = container(deployment)
    assert (c["command"], c["args"]) == (command, ["--log-level", "info"])
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert env(c)["UVICORN_PORT"] == "8080"
    assert c["readinessProbe"]["httpGet"] == {"path": "/status/ready", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/status/live", "port": "http"}
    assert c["livenessProbe"]["periodSeconds"] == 5
    assert deployment["metadata"]["annotations"]["fastapi-zdk.io/version-path"] == "/status"


def test_app_env_and_extra_env() -> None:
    c = container(
        _deployment(
            {
                "app": {"greeting": "Zürich", "revision": "abc1234", "warmupSeconds": 3},
                "extraEnv": [{"name": "APP_SLOW_MAX_SECONDS", "value": "9"}],
            }
        )
    )
    e = env(c)
    assert (e["APP_GREETING"], e["APP_REVISION"], e["APP_WARMUP_SECONDS"]) == (
        "Zürich",
        "abc1234",
        "3",
    )
    assert e["APP_SLOW_MAX_SECONDS"] == "9"


@pytest.mark.parametrize("probe", ["startup", "readiness", "liveness"])
def test_each_probe_can_be_disabled(probe: str) -> None:
    c = container(_deployment({"probes": {probe: {"enabled": False}}}))
    assert f"{probe}Probe" not in c
    assert {"startup", "readiness", "liveness"} - {probe} <= {
        k[:-5] for k in c if k.endswith("Probe")
    }


def test_probe_settings_pass_through() -> None:
    values = {
        "probes": {"readiness": {"periodSeconds": 7, "failureThreshold": 4, "successThreshold": 2}}
    }
    probe = container(_deployment(values))["readinessProbe"]
    assert (probe["periodSeconds"], probe["failureThreshold"], probe["successThreshold"]) == (
        7,
        4,
        2,
    )


def test_strategy_and_rollout_values() -> None:
    spec = _deployment(
        {
            "strategy": {"rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 1}},
            "minReadySeconds": 0,
            "progressDeadlineSeconds": 900,
            "revisionHistoryLimit": 2,
            "replicaCount": 4,
        }
    )["spec"]
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": "50%", "maxUnavailable": 1}
    assert (spec["minReadySeconds"], spec["progressDeadlineSeconds"]) == (0, 900)
    assert (spec["revisionHistoryLimit"], spec["replicas"]) == (2, 4)


def test_hpa_owns_replicas() -> None:
    manifests = render(
        {
            "autoscaling": {
                "enabled": True,
                "minReplicas": 3,
                "maxReplicas": 9,
                "targetCPUUtilizationPercentage": 60,
                "targetMemoryUtilizationPercentage": 80,
            }
        }
    )
    assert "replicas" not in one(manifests, "Deployment")["spec"]
    hpa = one(manifests, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": RELEASE}
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]
    }
    assert targets == {"cpu": 60, "memory": 80}
    assert one(manifests, "PodDisruptionBudget")


@pytest.mark.parametrize(
    ("values", "has_pdb"),
    [
        ({"replicaCount": 1}, False),
        ({"replicaCount": 2, "podDisruptionBudget": {"enabled": False}}, False),
        ({"replicaCount": 1, "autoscaling": {"enabled": True, "minReplicas": 2}}, True),
        ({"replicaCount": 5, "autoscaling": {"enabled": True, "minReplicas": 1}}, False),
    ],
)
def test_pdb_only_with_more_than_one_pod(values: dict[str, Any], has_pdb: bool) -> None:
    assert bool(objects(render(values), "PodDisruptionBudget")) is has_pdb


def test_pdb_min_available() -> None:
    spec = one(
        render({"replicaCount": 3, "podDisruptionBudget": {"minAvailable": 2}}),
        "PodDisruptionBudget",
    )
    assert spec["spec"]["minAvailable"] == 2
    assert "maxUnavailable" not in spec["spec"]


def test_nodeport_service() -> None:
    spec = one(
        render({"service": {"type": "NodePort", "nodePort": 30080, "port": 8080}}), "Service"
    )["spec"]
    assert spec["type"] == "NodePort"
    assert spec["ports"][0]["nodePort"] == 30080
    assert spec["ports"][0]["port"] == 8080


def test_ingress() -> None:
    values = {
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "annotations": {"a": "b"},
            "hosts": HOSTS,
            "tls": [{"secretName": "tls", "hosts": ["api.example.com"]}],
        },
        "proxy": {"kind": "nginx"},
    }
    ingress = one(render(values), "Ingress")
    assert ingress["metadata"]["annotations"] == {"a": "b"}
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"secretName": "tls", "hosts": ["api.example.com"]}]
    rule = spec["rules"][0]
    assert rule["host"] == "api.example.com"
    assert rule["http"]["paths"][0]["backend"] == {
        "service": {"name": RELEASE, "port": {"name": "http"}}
    }


def test_no_route_by_default(default_render: list[dict[str, Any]]) -> None:
    assert not objects(default_render, "Ingress")
    assert not objects(default_render, "HTTPRoute")


def test_httproute() -> None:
    parent = {"name": "traefik", "namespace": "traefik", "sectionName": "web"}
    values = {
        "httpRoute": {
            "enabled": True,
            "annotations": {"a": "b"},
            "parentRefs": [parent],
            "hostnames": ["api.example.com", "*.api.example.com"],
        },
        "service": {"port": 8080},
        "proxy": {"kind": "traefik", "upstreamIdleTimeoutSeconds": 60},
    }
    route = one(render(values), "HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["metadata"]["name"] == RELEASE
    assert route["metadata"]["namespace"] == NAMESPACE
    assert route["metadata"]["annotations"] == {"a": "b"}
    assert route["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    spec = route["spec"]
    assert spec["parentRefs"] == [parent]
    assert spec["hostnames"] == ["api.example.com", "*.api.example.com"]
    # The default rule: everything under / to the Service port (not the container port).
    assert spec["rules"] == [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [{"name": RELEASE, "port": 8080}],
        }
    ]


def test_httproute_rules_each_go_to_the_service_port() -> None:
    rules: list[dict[str, Any]] = [
        {
            "name": "api",
            "matches": [{"path": {"type": "PathPrefix", "value": "/api"}, "method": "GET"}],
            "timeouts": {"request": "30s"},
        },
        {
            "matches": [{"path": {"type": "Exact", "value": "/health"}}],
            "filters": [
                {
                    "type": "RequestHeaderModifier",
                    "requestHeaderModifier": {"set": [{"name": "X-Via", "value": "gw"}]},
                }
            ],
        },
        {},
    ]
    values = {
        "httpRoute": {"enabled": True, "parentRefs": [{"name": "gw"}], "rules": rules},
        "proxy": {"kind": "other", "upstreamIdleTimeoutSeconds": 30},
    }
    spec = one(render(values), "HTTPRoute")["spec"]
    assert "hostnames" not in spec, "no hostnames: the listener's"
    backend = [{"name": RELEASE, "port": 80}]
    assert spec["rules"] == [{**rule, "backendRefs": backend} for rule in rules]


def test_ingress_and_httproute_together() -> None:
    values = {
        "ingress": {"enabled": True, "className": "traefik", "hosts": HOSTS},
        "httpRoute": {"enabled": True, "parentRefs": [{"name": "traefik"}]},
        "proxy": {"kind": "traefik", "upstreamIdleTimeoutSeconds": 60},
    }
    manifests = render(values)
    assert one(manifests, "Ingress")["spec"]["ingressClassName"] == "traefik"
    assert one(manifests, "HTTPRoute")["spec"]["parentRefs"] == [{"name": "traefik"}]


def test_notes_name_the_route_and_the_keep_alive_order() -> None:
    values = CHART / "ci" / "httproute-values.yaml"
    notes = helm(
        "install", RELEASE, str(CHART), "-n", NAMESPACE, "--dry-run=client", "-f", str(values)
    )
    assert notes.returncode == 0, notes.stderr
    assert "parent Gateway traefik/traefik, listener web" in notes.stdout
    assert "hostname api.fastapi-app.local" in notes.stdout
    assert "closes idle connections after 95s, later than the proxy (traefik, 90s)" in notes.stdout


def _app_policy(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    [policy] = [m for m in objects(manifests, "NetworkPolicy") if m["metadata"]["name"] == RELEASE]
    return policy


def test_network_policy() -> None:
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    cidrs = ["10.0.0.10/32"]
    manifests = render(
        {"networkPolicy": {"enabled": True, "from": [peer], "apiServerCIDRs": cidrs}}
    )
    spec = _app_policy(manifests)["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    rule = spec["ingress"][0]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert {"podSelector": {}} in rule["from"]
    assert peer in rule["from"]
    client = {"app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/component": "client"}
    assert {"podSelector": {"matchLabels": client}} in rule["from"], (
        "the helm test pod may call the app"
    )
    alone = _app_policy(
        render(
            {
                "networkPolicy": {
                    "enabled": True,
                    "allowSameNamespace": False,
                    "from": [peer],
                    "apiServerCIDRs": cidrs,
                }
            }
        )
    )
    assert {"podSelector": {}} not in alone["spec"]["ingress"][0]["from"]
    [jobs] = [m for m in objects(manifests, "NetworkPolicy") if m["metadata"]["name"] != RELEASE]
    assert jobs["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in jobs["spec"], "migration and test pods admit no traffic"
    selector = {e["key"]: e["values"] for e in jobs["spec"]["podSelector"]["matchExpressions"]}
    assert selector == {
        "app.kubernetes.io/instance": [RELEASE],
        "app.kubernetes.io/component": ["migrations", "client"],
    }


def test_database_existing_secret() -> None:
    values = {"database": {"existingSecret": "db", "existingSecretKey": "URL"}}
    manifests = render(values)
    assert env(container(one(manifests, "Deployment")))["DATABASE_URL"] == {
        "secretKeyRef": {"name": "db", "key": "URL"}
    }
    assert not objects(manifests, "Secret")
    assert "annotations" not in one(manifests, "Deployment")["spec"]["template"]["metadata"]


def test_database_url_makes_a_secret_and_rolls_pods_on_change() -> None:
    manifests = render({"database": {"url": DB_URL}})
    secret = one(manifests, "Secret")
    assert secret["metadata"]["name"] == f"{RELEASE}-database"
    assert set(secret["data"]) == {"DATABASE_URL"}
    deployment = one(manifests, "Deployment")
    assert env(container(deployment))["DATABASE_URL"] == {
        "secretKeyRef": {"name": f"{RELEASE}-database", "key": "DATABASE_URL"}
    }
    before = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
    after = one(render({"database": {"url": DB_URL + "?x=1"}}), "Deployment")
    assert after["spec"]["template"]["metadata"]["annotations"]["checksum/secret"] != before


def test_config_and_secret_env() -> None:
    values = {
        "configEnv": {"A": "1", "B": 2},
        "secretEnv": {"TOKEN": "t"},
        "podAnnotations": {"x": "y"},
    }
    manifests = render(values)
    cm = one(manifests, "ConfigMap")
    assert cm["metadata"]["name"] == f"{RELEASE}-env"
    assert cm["data"] == {"A": "1", "B": "2"}
    assert one(manifests, "Secret")["data"] == {"TOKEN": "dA=="}
    deployment = one(manifests, "Deployment")
    assert container(deployment)["envFrom"] == [
        {"configMapRef": {"name": f"{RELEASE}-env"}},
        {"secretRef": {"name": f"{RELEASE}-env"}},
    ]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {"checksum/config", "checksum/secret", "x"}
    changed = one(render({**values, "configEnv": {"A": "2", "B": 2}}), "Deployment")
    changed_annotations = changed["spec"]["template"]["metadata"]["annotations"]
    assert changed_annotations["checksum/config"] != annotations["checksum/config"]
    assert changed_annotations["checksum/secret"] == annotations["checksum/secret"]


def test_checksums_ignore_the_version() -> None:
    values: dict[str, Any] = {"configEnv": {"A": "1"}}
    a = one(render(values), "Deployment")["spec"]["template"]["metadata"]["annotations"]
    b = one(render({**values, "image": {"tag": "9.9.9"}}), "Deployment")["spec"]["template"][
        "metadata"
    ]["annotations"]
    assert a == b


def _migration(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in render(values) if m["metadata"]["name"].startswith(f"{RELEASE}-migrate-")]


def test_migration_job_as_hook() -> None:
    values = {
        "migrations": {"enabled": True},
        "database": {"existingSecret": "fastapi-app-database"},
        "image": {"tag": "0.0.2"},
    }
    [job] = _migration(values)
    assert job["kind"] == "Job"
    assert job["metadata"]["name"] == f"{RELEASE}-migrate-0-0-2"
    assert job["metadata"]["annotations"] == {
        "helm.sh/hook": "pre-install,pre-upgrade",
        "helm.sh/hook-weight": "0",
        "helm.sh/hook-delete-policy": "before-hook-creation",
    }
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 300)
    assert spec["ttlSecondsAfterFinished"] == 86400
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    assert c["command"] == ["alembic", "upgrade", "head"]
    assert c["workingDir"] == "/app"
    assert c["image"] == "fastapi-app:0.0.2"
    app = container(one(render(values), "Deployment"))
    assert c["securityContext"] == app["securityContext"]
    assert (
        pod["securityContext"]
        == one(render(values), "Deployment")["spec"]["template"]["spec"]["securityContext"]
    )
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    # The app's environment, plus the migration session's statement_timeout.
    assert env(c) == {**env(app), "MIGRATION_STATEMENT_TIMEOUT": "240s"}
    assert env(c)["DATABASE_URL"] == {
        "secretKeyRef": {"name": "fastapi-app-database", "key": "DATABASE_URL"}
    }
    # The Service, the Deployment and the PDB must never select the migration pod.
    assert "app.kubernetes.io/name" not in spec["template"]["metadata"]["labels"]


def test_migration_job_plain_for_the_deploy_role() -> None:
    values = {
        "migrations": {"enabled": True, "hook": False, "ttlSecondsAfterFinished": 600},
        "database": {"url": DB_URL},
        "secretEnv": {"TOKEN": "t"},
        "configEnv": {"A": "1"},
        "image": {"tag": "V1.2.3+Build_7"},
    }
    result = helm(
        "template",
        RELEASE,
        str(CHART),
        "-n",
        NAMESPACE,
        "--show-only",
        "templates/migration-job.yaml",
        "--set",
        "migrations.enabled=true",
        "--set",
        "migrations.hook=false",
        "--set",
        f"database.url={DB_URL}",
        "--set",
        "image.tag=V1.2.3+Build_7",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("kind: Job") == 1
    secret, job = _migration(values)
    name = f"{RELEASE}-migrate-v1-2-3-build-7"
    for obj in (secret, job):
        assert obj["metadata"]["name"] == name
        assert obj["metadata"]["annotations"] == {
            "meta.helm.sh/release-name": RELEASE,
            "meta.helm.sh/release-namespace": NAMESPACE,
        }
    assert set(secret["data"]) == {"DATABASE_URL", "TOKEN"}
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert env(c)["DATABASE_URL"] == {"secretKeyRef": {"name": name, "key": "DATABASE_URL"}}
    assert env(c)["A"] == "1"
    assert c["envFrom"] == [{"secretRef": {"name": name}}]
    assert job["spec"]["ttlSecondsAfterFinished"] == 600


@pytest.mark.parametrize(("ttl", "rendered"), [(None, None), (0, 0), (3600, 3600)])
def test_migration_job_timeouts(ttl: int | None, rendered: int | None) -> None:
    values = {
        "migrations": {
            "enabled": True,
            "statementTimeoutSeconds": 90,
            "activeDeadlineSeconds": 120,
            "ttlSecondsAfterFinished": ttl,
        },
        "database": {"existingSecret": "db"},
    }
    job = one(render(values), "Job")
    assert job["spec"]["activeDeadlineSeconds"] == 120
    assert job["spec"].get("ttlSecondsAfterFinished") == rendered
    assert (
        env(job["spec"]["template"]["spec"]["containers"][0])["MIGRATION_STATEMENT_TIMEOUT"]
        == "90s"
    )


def test_migration_hook_secret_is_a_hook() -> None:
    [secret, _job] = _migration({"migrations": {"enabled": True}, "database": {"url": DB_URL}})
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["annotations"]["helm.sh/hook-weight"] == "-5"


def test_migration_job_name_fits_for_long_names() -> None:
    values = {
        "migrations": {"enabled": True},
        "database": {"existingSecret": "db"},
        "fullnameOverride": "a-very-long-release-name-for-the-fastapi-app-service-x",
        "image": {"tag": "2024.10.01-rc.1-abcdef0123"},
    }
    name = one(render(values), "Job")["metadata"]["name"]
    assert name == "a-very-long-release-name-for-the-migrate-2024-10-01-rc-1-abcd"
    assert len(name) <= 63


def test_image_digest_and_overrides() -> None:
    digest = "sha256:" + "a" * 64
    values = {
        "image": {
            "repository": "127.0.0.1:5000/fastapi-app",
            "tag": "0.0.2",
            "digest": digest,
            "pullPolicy": "Always",
        },
        "imagePullSecrets": [{"name": "regcred"}],
    }
    deployment = _deployment(values)
    c = container(deployment)
    assert c["image"] == f"127.0.0.1:5000/fastapi-app@{digest}"
    assert c["imagePullPolicy"] == "Always"
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert (
        deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "0.0.2"
    )


def test_names_and_service_account() -> None:
    manifests = render(
        {"fullnameOverride": "web", "serviceAccount": {"create": False, "name": "shared"}}
    )
    assert one(manifests, "Deployment")["metadata"]["name"] == "web"
    assert (
        one(manifests, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "shared"
    )
    assert not objects(manifests, "ServiceAccount")
    named = render({"nameOverride": "web"})
    assert one(named, "Deployment")["metadata"]["name"] == f"{RELEASE}-web"
    sa = one(
        render({"serviceAccount": {"annotations": {"k": "v"}, "automount": True}}), "ServiceAccount"
    )
    assert sa["metadata"]["annotations"] == {"k": "v"}
    assert sa["automountServiceAccountToken"] is True


def test_pass_through_values() -> None:
    values = {
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "k", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {}},
        "priorityClassName": "high",
        "podLabels": {"team": "web"},
        "topologySpread": {"enabled": False},
        "topologySpreadConstraints": [
            {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
        ],
        "extraVolumes": [{"name": "cache", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "cache", "mountPath": "/cache"}],
        "service": {"annotations": {"s": "t"}},
    }
    manifests = render(values)
    pod = one(manifests, "Deployment")["spec"]["template"]
    spec = pod["spec"]
    assert spec["nodeSelector"] == {"disk": "ssd"}
    assert spec["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert spec["affinity"] == {"nodeAffinity": {}}
    assert spec["priorityClassName"] == "high"
    assert pod["metadata"]["labels"]["team"] == "web"
    assert spec["topologySpreadConstraints"] == values["topologySpreadConstraints"]
    assert {"name": "cache", "emptyDir": {}} in spec["volumes"]
    assert {"name": "cache", "mountPath": "/cache"} in spec["containers"][0]["volumeMounts"]
    assert one(manifests, "Service")["metadata"]["annotations"] == {"s": "t"}


def test_helm_test_can_be_disabled() -> None:
    assert not objects(render({"tests": {"enabled": False}}), "Pod")


def test_naive_values_render_with_a_warning() -> None:
    naive = CHART / "ci" / "naive-values.yaml"
    deployment = one(render(files=[naive]), "Deployment")
    c = container(deployment)
    assert "lifecycle" not in c
    assert "readinessProbe" not in c
    assert "startupProbe" not in c
    assert env(c)["APP_DRAIN_SECONDS"] == "0"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 1
    notes = helm(
        "install", RELEASE, str(CHART), "-n", NAMESPACE, "--dry-run=client", "-f", str(naive)
    )
    assert notes.returncode == 0, notes.stderr
    assert "WARNING: this configuration is not zero-downtime" in notes.stdout
    default_notes = helm("install", RELEASE, str(CHART), "-n", NAMESPACE, "--dry-run=client")
    assert "WARNING" not in default_notes.stdout
