"""values.schema.json: wrong types, unknown keys and out-of-range values fail, naming the key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ._chart import CHART, render_error

SCHEMA_ERROR = "values don't meet the specifications of the schema"

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("wrong-type-top", {"replicaCount": "two"}, "at '/replicaCount': got string, want integer"),
    (
        "wrong-type-nested",
        {"lifecycle": {"drainSeconds": "5s"}},
        "at '/lifecycle/drainSeconds': got string, want integer",
    ),
    (
        "wrong-type-bool",
        {"probes": {"startup": {"enabled": "yes"}}},
        "at '/probes/startup/enabled': got string, want boolean",
    ),
    ("unknown-top", {"replicas": 3}, "additional properties 'replicas' not allowed"),
    (
        "unknown-nested",
        {"lifecycle": {"preStopSeconds": 10}},
        "at '/lifecycle': additional properties 'preStopSeconds' not allowed",
    ),
    (
        "unknown-probe-key",
        {"probes": {"startup": {"httpGet": {"path": "/x"}}}},
        "at '/probes/startup': additional properties 'httpGet' not allowed",
    ),
    (
        "probe-path-relative",
        {"probes": {"liveness": {"path": "health/live"}}},
        "at '/probes/liveness/path': 'health/live' does not match pattern",
    ),
    (
        "enum-prestop",
        {"lifecycle": {"preStop": {"type": "httpGet"}}},
        "at '/lifecycle/preStop/type': value must be one of 'sleep', 'exec', 'none'",
    ),
    (
        "enum-service",
        {"service": {"type": "LoadBalancer"}},
        "at '/service/type': value must be one of 'ClusterIP', 'NodePort'",
    ),
    (
        "minimum",
        {"lifecycle": {"gracefulShutdownSeconds": -1}},
        "at '/lifecycle/gracefulShutdownSeconds': minimum: got -1, want 0",
    ),
    ("nodeport-range", {"service": {"type": "NodePort", "nodePort": 8080}}, "/service/nodePort"),
    (
        "percent-pattern",
        {"strategy": {"rollingUpdate": {"maxSurge": "lots"}}},
        "/strategy/rollingUpdate/maxSurge",
    ),
    ("digest-pattern", {"image": {"digest": "latest"}}, "at '/image/digest'"),
    ("pull-policy", {"image": {"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy'"),
    ("command-empty", {"migrations": {"command": []}}, "at '/migrations/command'"),
    (
        "statement-timeout-minimum",
        {"migrations": {"statementTimeoutSeconds": 0}},
        "at '/migrations/statementTimeoutSeconds': minimum: got 0, want 1",
    ),
    (
        "unknown-proxy-key",
        {"proxy": {"kind": "traefik", "idleTimeout": 60}},
        "at '/proxy': additional properties 'idleTimeout' not allowed",
    ),
    (
        "proxy-kind-enum",
        {"proxy": {"kind": "haproxy"}},
        "at '/proxy/kind': value must be one of 'none', 'traefik', 'nginx', 'aws-alb', 'gcp',"
        " 'other'",
    ),
    (
        "proxy-idle-type",
        {"proxy": {"kind": "other", "upstreamIdleTimeoutSeconds": "60s"}},
        "/proxy/upstreamIdleTimeoutSeconds",
    ),
    (
        "proxy-idle-minimum",
        {"proxy": {"kind": "other", "upstreamIdleTimeoutSeconds": 0}},
        "/proxy/upstreamIdleTimeoutSeconds",
    ),
    (
        "unknown-httproute-key",
        {"httpRoute": {"enabled": True, "gateway": "traefik"}},
        "at '/httpRoute': additional properties 'gateway' not allowed",
    ),
    (
        "unknown-parentref-key",
        {"httpRoute": {"parentRefs": [{"name": "traefik", "listener": "web"}]}},
        "at '/httpRoute/parentRefs/0': additional properties 'listener' not allowed",
    ),
    (
        "parentref-needs-name",
        {"httpRoute": {"parentRefs": [{"namespace": "traefik"}]}},
        "at '/httpRoute/parentRefs/0': missing property 'name'",
    ),
    (
        "hostname-pattern",
        {"httpRoute": {"hostnames": ["API.example.com:80"]}},
        "at '/httpRoute/hostnames/0'",
    ),
    (
        "unknown-rule-key",
        {"httpRoute": {"rules": [{"backendRefs": [{"name": "other", "port": 80}]}]}},
        "at '/httpRoute/rules/0': additional properties 'backendRefs' not allowed",
    ),
    (
        "rules-empty",
        {"httpRoute": {"rules": []}},
        "at '/httpRoute/rules'",
    ),
    (
        "match-path-type",
        {"httpRoute": {"rules": [{"matches": [{"path": {"type": "Prefix", "value": "/"}}]}]}},
        "at '/httpRoute/rules/0/matches/0/path/type'",
    ),
    (
        "statement-timeout-type",
        {"migrations": {"statementTimeoutSeconds": "240s"}},
        "at '/migrations/statementTimeoutSeconds': got string, want integer",
    ),
]


@pytest.mark.parametrize(("values", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_schema_rejects(values: dict[str, Any], message: str) -> None:
    error = render_error(values)
    assert SCHEMA_ERROR in error
    assert message in error, error


def test_schema_is_strict_where_it_helps() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    for key in (
        "lifecycle",
        "probes",
        "migrations",
        "database",
        "service",
        "strategy",
        "autoscaling",
        "ingress",
        "httpRoute",
        "proxy",
    ):
        assert schema["properties"][key]["additionalProperties"] is False, key
