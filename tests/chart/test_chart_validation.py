"""validateValues: every contradictory configuration fails with its one-line message."""

from __future__ import annotations

from typing import Any

import pytest

from ._chart import CHART, render, render_error

HOSTS = [{"host": "api.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}]

CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "timeline",
        {
            "lifecycle": {"preStop": {"type": "sleep", "seconds": 20}},
            "terminationGracePeriodSeconds": 45,
        },
        "shutdown timeline: lifecycle.preStop.seconds (20) + lifecycle.drainSeconds (5)"
        " + lifecycle.gracefulShutdownSeconds (20) + lifecycle.marginSeconds (5) = 50s must not"
        " exceed"
        " terminationGracePeriodSeconds (45), or the kubelet kills pods with requests in flight"
        " (leave terminationGracePeriodSeconds null to compute it).",
    ),
    (
        "longest-request",
        {"lifecycle": {"longestRequestSeconds": 30}},
        "shutdown timeline: lifecycle.longestRequestSeconds (30) must not exceed"
        " lifecycle.gracefulShutdownSeconds (20), or a request that starts as the drain ends is"
        " cut off by the shutdown; raise gracefulShutdownSeconds.",
    ),
    (
        "timeline-grace",
        {"terminationGracePeriodSeconds": 39},
        "= 40s must not exceed terminationGracePeriodSeconds (39)",
    ),
    (
        "prestop-zero",
        {"lifecycle": {"preStop": {"type": "exec", "seconds": 0}}},
        "preStop: lifecycle.preStop.seconds must be at least 1 when lifecycle.preStop.type is exec;"
        " use lifecycle.preStop.type=none for no pause.",
    ),
    (
        "strategy",
        {"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}},
        "strategy: strategy.rollingUpdate.maxSurge and strategy.rollingUpdate.maxUnavailable"
        " cannot both"
        " be 0, or a rollout can never replace a pod.",
    ),
    (
        "pdb-max-zero",
        {"podDisruptionBudget": {"maxUnavailable": 0}},
        "podDisruptionBudget: podDisruptionBudget.maxUnavailable=0 blocks every eviction (node"
        " drains hang);"
        " allow at least 1.",
    ),
    (
        "pdb-min-all",
        {"replicaCount": 3, "podDisruptionBudget": {"minAvailable": 3}},
        "podDisruptionBudget: podDisruptionBudget.minAvailable (3) must be lower than the number"
        " of pods"
        " (3, replicaCount), or it blocks every eviction.",
    ),
    (
        "pdb-min-hpa",
        {
            "autoscaling": {"enabled": True, "minReplicas": 2},
            "podDisruptionBudget": {"minAvailable": 2},
        },
        "podDisruptionBudget: podDisruptionBudget.minAvailable (2) must be lower than the number"
        " of pods"
        " (2, autoscaling.minReplicas), or it blocks every eviction.",
    ),
    (
        "pdb-min-percent",
        {"podDisruptionBudget": {"minAvailable": "100%"}},
        "podDisruptionBudget: podDisruptionBudget.minAvailable=100% blocks every eviction (node"
        " drains hang);"
        " use a lower value.",
    ),
    (
        "pdb-both",
        {"podDisruptionBudget": {"minAvailable": 1, "maxUnavailable": 1}},
        "podDisruptionBudget: set only one of podDisruptionBudget.minAvailable and"
        " podDisruptionBudget.maxUnavailable.",
    ),
    (
        "startup-window",
        {"app": {"warmupSeconds": 60}},
        "probes: probes.startup.initialDelaySeconds + failureThreshold * periodSeconds (60s)"
        " must exceed"
        " app.warmupSeconds (60), because the startup probe checks /health/ready, which is 503"
        " while"
        " warming up.",
    ),
    (
        "progress-deadline",
        {"progressDeadlineSeconds": 60},
        "probes: a pod may need 62s to become available (startup probe initialDelaySeconds +"
        " failureThreshold"
        " * periodSeconds, or app.warmupSeconds, + probes.readiness delay + minReadySeconds) but"
        " progressDeadlineSeconds is 60; raise progressDeadlineSeconds or shorten the probes.",
    ),
    (
        "progress-deadline-warmup",
        {"probes": {"startup": {"enabled": False}}, "app": {"warmupSeconds": 400}},
        "probes: a pod may need 402s to become available",
    ),
    (
        "hpa-min-max",
        {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 4}},
        "autoscaling: autoscaling.minReplicas (5) must not exceed autoscaling.maxReplicas (4).",
    ),
    (
        "hpa-no-metric",
        {"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": None}},
        "autoscaling: set autoscaling.targetCPUUtilizationPercentage or"
        " autoscaling.targetMemoryUtilizationPercentage, or the HPA has no metric.",
    ),
    (
        "hpa-cpu-request",
        {"autoscaling": {"enabled": True}, "resources": {"requests": {"cpu": None}}},
        "autoscaling: autoscaling.targetCPUUtilizationPercentage needs resources.requests.cpu"
        " (utilization is a percentage of the request).",
    ),
    (
        "hpa-memory-request",
        {
            "autoscaling": {
                "enabled": True,
                "targetCPUUtilizationPercentage": None,
                "targetMemoryUtilizationPercentage": 80,
            },
            "resources": {"requests": {"memory": None}},
        },
        "autoscaling: autoscaling.targetMemoryUtilizationPercentage needs"
        " resources.requests.memory",
    ),
    (
        "nodeport-type",
        {"service": {"nodePort": 30080}},
        "service: service.nodePort (30080) needs service.type=NodePort (it is ClusterIP).",
    ),
    (
        "ingress-hosts",
        {"ingress": {"enabled": True}},
        "ingress: ingress.enabled needs at least one entry in ingress.hosts.",
    ),
    (
        "httproute-parentrefs",
        {
            "httpRoute": {"enabled": True},
            "proxy": {"kind": "traefik", "upstreamIdleTimeoutSeconds": 60},
        },
        "httpRoute: httpRoute.enabled needs at least one entry in httpRoute.parentRefs (the"
        " Gateway to attach to, e.g. {name: traefik, namespace: traefik}).",
    ),
    (
        "ingress-without-proxy-kind",
        {"ingress": {"enabled": True, "hosts": HOSTS}},
        "proxy: ingress.enabled needs proxy.kind set to the proxy that serves the route (traefik,"
        " nginx, aws-alb, gcp or other), so that lifecycle.keepAliveSeconds can be checked"
        " against its idle timeout.",
    ),
    (
        "httproute-without-proxy-kind",
        {"httpRoute": {"enabled": True, "parentRefs": [{"name": "traefik"}]}},
        "proxy: httpRoute.enabled needs proxy.kind set to the proxy that serves the route",
    ),
    (
        "both-routes-without-proxy-kind",
        {
            "ingress": {"enabled": True, "hosts": HOSTS},
            "httpRoute": {"enabled": True, "parentRefs": [{"name": "traefik"}]},
        },
        "proxy: ingress.enabled and httpRoute.enabled need proxy.kind set to the proxy",
    ),
    (
        "other-without-number",
        {"proxy": {"kind": "other"}},
        "proxy: proxy.kind=other needs proxy.upstreamIdleTimeoutSeconds (the chart knows no"
        " default for it): set the idle timeout of the proxy's connections to the pods.",
    ),
    (
        "number-without-kind",
        {"proxy": {"upstreamIdleTimeoutSeconds": 60}},
        "proxy: proxy.upstreamIdleTimeoutSeconds (60) needs proxy.kind (it is none); use"
        " proxy.kind=other for a proxy the chart does not know.",
    ),
    (
        "keep-alive-default-traefik",
        {"proxy": {"kind": "traefik"}},
        "keep-alive: lifecycle.keepAliveSeconds (75) must be above"
        " proxy.upstreamIdleTimeoutSeconds (90, traefik's default): the proxy would reuse"
        " connections the app has closed (502s); raise lifecycle.keepAliveSeconds, or lower the"
        " proxy's idle timeout and set proxy.upstreamIdleTimeoutSeconds to it.",
    ),
    (
        "keep-alive-explicit",
        {"proxy": {"kind": "other", "upstreamIdleTimeoutSeconds": 75}},
        "keep-alive: lifecycle.keepAliveSeconds (75) must be above"
        " proxy.upstreamIdleTimeoutSeconds (75): the proxy would reuse connections the app has"
        " closed (502s)",
    ),
    (
        "database-both",
        {"database": {"url": "postgresql+psycopg://x", "existingSecret": "db"}},
        "database: set only one of database.url and database.existingSecret.",
    ),
    (
        "migrations-no-db",
        {"migrations": {"enabled": True}},
        "migrations: migrations.enabled needs database.existingSecret or database.url, or the"
        " Job migrates"
        " a throw-away SQLite file.",
    ),
    (
        "migrations-statement-timeout",
        {
            "migrations": {"enabled": True, "statementTimeoutSeconds": 300},
            "database": {"existingSecret": "db"},
        },
        "migrations: migrations.statementTimeoutSeconds (300) must be lower than"
        " migrations.activeDeadlineSeconds (300), so that PostgreSQL cancels a long statement"
        " before the Job is killed.",
    ),
    (
        "migrations-deadline-lowered",
        {
            "migrations": {"enabled": True, "activeDeadlineSeconds": 120},
            "database": {"existingSecret": "db"},
        },
        "migrations: migrations.statementTimeoutSeconds (240) must be lower than"
        " migrations.activeDeadlineSeconds (120)",
    ),
    (
        "networkpolicy-closed",
        {"networkPolicy": {"enabled": True, "allowSameNamespace": False}},
        "networkPolicy: networkPolicy.enabled with allowSameNamespace=false and an empty"
        " networkPolicy.from"
        " admits no traffic at all.",
    ),
    (
        "networkpolicy-no-api-server",
        {"networkPolicy": {"enabled": True}},
        "networkPolicy: networkPolicy.enabled needs networkPolicy.apiServerCIDRs, because the"
        " deploy's verify reads each pod's version through the API server's pod proxy",
    ),
]


@pytest.mark.parametrize(("values", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_fails_with_its_message(values: dict[str, Any], message: str) -> None:
    error = render_error(values)
    assert "VALUES VALIDATION:" in error
    # One readable line per broken rule.
    assert any(message in line for line in error.splitlines()), error


def test_sleep_prestop_needs_kubernetes_1_30() -> None:
    error = render_error({}, extra=["--kube-version", "1.29.0"])
    assert (
        "preStop: lifecycle.preStop.type=sleep needs Kubernetes >= 1.30 (cluster is v1.29.0);"
        " use lifecycle.preStop.type=exec." in error
    )
    render({"lifecycle": {"preStop": {"type": "exec"}}}, extra=["--kube-version", "1.29.0"])


def test_all_broken_rules_are_reported_together() -> None:
    error = render_error(
        {
            "terminationGracePeriodSeconds": 10,
            "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
            "service": {"nodePort": 30080},
        }
    )
    assert (
        error.count("\nshutdown timeline:") + error.count("\nstrategy:") + error.count("\nservice:")
        == 3
    )


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"terminationGracePeriodSeconds": 40}, id="timeline-exactly-fits"),
        pytest.param(
            {"lifecycle": {"preStop": {"type": "none", "seconds": 0}}}, id="prestop-none-zero"
        ),
        pytest.param(
            {"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}}, id="surge-zero"
        ),
        pytest.param(
            {"replicaCount": 1, "podDisruptionBudget": {"maxUnavailable": 0}}, id="pdb-not-rendered"
        ),
        pytest.param(
            {"replicaCount": 3, "podDisruptionBudget": {"minAvailable": 2}}, id="pdb-min-below"
        ),
        pytest.param({"podDisruptionBudget": {"minAvailable": "50%"}}, id="pdb-min-percent"),
        pytest.param({"app": {"warmupSeconds": 59}}, id="warmup-inside-startup-window"),
        pytest.param({"progressDeadlineSeconds": 66}, id="deadline-just-enough"),
        pytest.param(
            {"autoscaling": {"enabled": True, "minReplicas": 4, "maxReplicas": 4}},
            id="hpa-min-eq-max",
        ),
        pytest.param(
            {"networkPolicy": {"enabled": True, "apiServerCIDRs": ["10.0.0.10/32"]}},
            id="networkpolicy-same-namespace",
        ),
        pytest.param(
            {
                "migrations": {"enabled": True, "statementTimeoutSeconds": 299},
                "database": {"existingSecret": "db"},
            },
            id="statement-timeout-just-below-deadline",
        ),
        pytest.param(
            {"migrations": {"statementTimeoutSeconds": 600}}, id="statement-timeout-no-migrations"
        ),
        pytest.param({"proxy": {"kind": "none"}}, id="no-proxy-no-route"),
        pytest.param(
            {"ingress": {"hosts": HOSTS}, "httpRoute": {"parentRefs": []}},
            id="routes-disabled-without-proxy-kind",
        ),
        pytest.param(
            {"ingress": {"enabled": True, "hosts": HOSTS}, "proxy": {"kind": "nginx"}},
            id="ingress-with-nginx-default",
        ),
    ],
)
def test_boundaries_that_still_render(values: dict[str, Any]) -> None:
    render(values)


def test_naive_configuration_still_renders() -> None:
    render(files=[CHART / "ci" / "naive-values.yaml"])
    render(
        {
            "lifecycle": {"preStop": {"type": "none"}, "drainSeconds": 0},
            "probes": {"readiness": {"enabled": False}, "startup": {"enabled": False}},
            "strategy": {"rollingUpdate": {"maxUnavailable": 1}},
        }
    )
