"""The keep-alive ordering rule: the chart refuses lifecycle.keepAliveSeconds at or below the
idle timeout of the proxy in front of the pods (proxy.upstreamIdleTimeoutSeconds, or the
documented default of proxy.kind); docs/contracts.md's table, the chart and the inventories
(and the local cluster's Traefik) agree."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from ._chart import CHART, REPO, one, render, render_error

CONTRACTS = REPO / "docs" / "contracts.md"
LOCAL_CLUSTER_DEFAULTS = REPO / "roles" / "local_cluster" / "defaults" / "main.yml"
TRAEFIK_TEMPLATE = REPO / "roles" / "local_cluster" / "templates" / "traefik.yaml.j2"
INVENTORIES = ["local", "staging", "production"]
ROOT = {"path": "/", "pathType": "Prefix"}

# Documented idle timeouts (seconds) of each proxy kind for its connections to the pods.
DEFAULTS = {"traefik": 90, "nginx": 60, "aws-alb": 60, "gcp": 600}


def _values(kind: str, keep_alive: int, idle: int | None = None) -> dict[str, Any]:
    return {
        "proxy": {"kind": kind, "upstreamIdleTimeoutSeconds": idle},
        "lifecycle": {"keepAliveSeconds": keep_alive},
    }


def _keep_alive_env(values: dict[str, Any]) -> str:
    deployment = one(render(values), "Deployment")
    [c] = deployment["spec"]["template"]["spec"]["containers"]
    value: str = {e["name"]: e.get("value") for e in c["env"]}["UVICORN_TIMEOUT_KEEP_ALIVE"]
    return value


@pytest.mark.parametrize(("kind", "idle"), DEFAULTS.items())
@pytest.mark.parametrize("below", [0, 1, 30], ids=["equal", "one-below", "far-below"])
def test_keep_alive_at_or_below_the_kinds_default_is_refused(
    kind: str, idle: int, below: int
) -> None:
    keep_alive = idle - below
    error = render_error(_values(kind, keep_alive))
    expected = (
        f"keep-alive: lifecycle.keepAliveSeconds ({keep_alive}) must be above"
        f" proxy.upstreamIdleTimeoutSeconds ({idle}, {kind}'s default): the proxy would reuse"
        " connections the app has closed (502s)"
    )
    assert any(line.startswith(expected) for line in error.splitlines()), error


@pytest.mark.parametrize(("kind", "idle"), DEFAULTS.items())
def test_keep_alive_above_the_kinds_default_renders(kind: str, idle: int) -> None:
    assert _keep_alive_env(_values(kind, idle + 1)) == str(idle + 1)


@pytest.mark.parametrize("kind", [*DEFAULTS, "other"])
def test_an_explicit_idle_timeout_wins_over_the_default(kind: str) -> None:
    # Refused at and below the stated number, whatever the kind's default is.
    for keep_alive in (70, 69):
        error = render_error(_values(kind, keep_alive, idle=70))
        expected = (
            f"keep-alive: lifecycle.keepAliveSeconds ({keep_alive}) must be above"
            " proxy.upstreamIdleTimeoutSeconds (70): the proxy would reuse"
        )
        assert any(line.startswith(expected) for line in error.splitlines()), error
    # Accepted above it, even where the kind's default (traefik 90, gcp 600) is higher.
    assert _keep_alive_env(_values(kind, 71, idle=70)) == "71"


def test_other_needs_a_number() -> None:
    error = render_error({"proxy": {"kind": "other"}})
    assert (
        "proxy: proxy.kind=other needs proxy.upstreamIdleTimeoutSeconds (the chart knows no"
        " default for it)" in error
    )
    # No keep-alive verdict without a number: only the missing number is reported.
    assert "keep-alive:" not in error


def test_no_proxy_means_no_keep_alive_check() -> None:
    assert _keep_alive_env({"lifecycle": {"keepAliveSeconds": 1}}) == "1"


@pytest.mark.parametrize(
    "routes",
    [
        {"ingress": {"enabled": True, "hosts": [{"host": "a.example", "paths": [ROOT]}]}},
        {"httpRoute": {"enabled": True, "parentRefs": [{"name": "traefik"}]}},
    ],
    ids=["ingress", "httproute"],
)
def test_a_route_needs_a_proxy_kind(routes: dict[str, Any]) -> None:
    error = render_error(routes)
    [line] = [line for line in error.splitlines() if line.startswith("proxy: ")]
    assert "needs proxy.kind set to the proxy that serves the route" in line
    render({**routes, "proxy": {"kind": "nginx"}})


def contract_defaults() -> dict[str, str]:
    """proxy.kind -> default idle timeout cell, from docs/contracts.md's table."""
    text = CONTRACTS.read_text()
    assert "## Keep-alive and the proxy in front" in text
    section = text.split("## Keep-alive and the proxy in front", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z-]+)`( \(default\))?", cells[0]) if len(cells) == 4 else None
        if match:
            rows[match.group(1)] = cells[1]
    return rows


def test_contracts_table_names_the_chart_defaults() -> None:
    rows = contract_defaults()
    assert set(rows) == {*DEFAULTS, "other", "none"}
    for kind, idle in DEFAULTS.items():
        assert rows[kind] == f"{idle} s", kind
    # ...and each cited source has its link.
    section = CONTRACTS.read_text().split("## Keep-alive and the proxy in front", 1)[1]
    for host in (
        "doc.traefik.io",
        "kubernetes.github.io/ingress-nginx",
        "docs.aws.amazon.com",
        "cloud.google.com",
    ):
        assert f"https://{host}" in section, host


def inventory_chart_values(name: str) -> dict[str, Any]:
    path = REPO / "inventory" / name / "group_vars" / "all" / "main.yml"
    values: dict[str, Any] = yaml.safe_load(path.read_text())["zdk_chart_values"]
    return values


@pytest.mark.parametrize("name", INVENTORIES)
def test_inventory_values_render_and_name_their_proxy(name: str) -> None:
    values = inventory_chart_values(name)
    manifests = render(values)
    if values.get("ingress", {}).get("enabled") or values.get("httpRoute", {}).get("enabled"):
        assert values["proxy"]["kind"] != "none"
    assert one(manifests, "Deployment")


def test_local_inventory_routes_fastapi_app_local_through_traefik() -> None:
    ingress = one(render(inventory_chart_values("local")), "Ingress")["spec"]
    assert ingress["ingressClassName"] == "traefik"
    assert ingress["rules"] == [
        {
            "host": "fastapi-app.local",
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": "fastapi-app", "port": {"name": "http"}}},
                    }
                ]
            },
        }
    ]


def test_local_inventory_states_the_local_traefiks_idle_timeout() -> None:
    """inventory/local tells the chart what roles/local_cluster configures Traefik with."""
    defaults = yaml.safe_load(LOCAL_CLUSTER_DEFAULTS.read_text())
    assert "local_cluster_traefik_idle_timeout_seconds" in defaults, (
        "roles/local_cluster/defaults/main.yml has no local_cluster_traefik_idle_timeout_seconds"
    )
    idle = defaults["local_cluster_traefik_idle_timeout_seconds"]
    assert inventory_chart_values("local")["proxy"] == {
        "kind": "traefik",
        "upstreamIdleTimeoutSeconds": idle,
    }


def test_local_traefik_is_configured_with_that_idle_timeout() -> None:
    if not TRAEFIK_TEMPLATE.exists():
        pytest.fail(f"{TRAEFIK_TEMPLATE.relative_to(REPO)} is missing")
    assert re.search(
        r"forwardingTimeouts\.idleConnTimeout="
        r"\{\{ *local_cluster_traefik_idle_timeout_seconds *\}\}s",
        TRAEFIK_TEMPLATE.read_text(),
    ), "Traefik's serversTransport idleConnTimeout must come from the role variable"


def test_ci_local_scenario_mirrors_the_local_inventory() -> None:
    scenario = yaml.safe_load((CHART / "ci" / "local-values.yaml").read_text())
    local = inventory_chart_values("local")
    for key in ("ingress", "proxy"):
        assert scenario[key] == local[key], key
