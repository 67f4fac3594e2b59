"""The app's NetworkPolicy admits the API server: the deploy kit's verify reads each pod's
version (and sends the smoke checks) through the API server's pod proxy, traffic that
comes from the control plane's address, not from a pod."""

from __future__ import annotations

from typing import Any

import yaml

from ._chart import RELEASE, REPO, load_plugin, objects, one, render, render_error

PRODUCTION = REPO / "inventory/production/group_vars/all/main.yml"
REFUSAL = (
    "networkPolicy: networkPolicy.enabled needs networkPolicy.apiServerCIDRs, because the"
    " deploy's verify reads each pod's version through the API server's pod proxy (traffic"
    " from the control plane, which the policy would drop); set the API server's CIDRs"
    " (`kubectl get endpointslices -n default kubernetes`; managed clusters: the control"
    " plane's CIDR)."
)
CLIENT = {"app.kubernetes.io/instance": RELEASE, "app.kubernetes.io/component": "client"}


def _production_chart_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(PRODUCTION.read_text())["zdk_chart_values"]
    return values


def _app_rule(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    [policy] = [m for m in objects(manifests, "NetworkPolicy") if m["metadata"]["name"] == RELEASE]
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    return dict(rule)


def test_production_inventory_admits_the_api_server_and_the_clients() -> None:
    values = _production_chart_values()
    cidrs = values["networkPolicy"]["apiServerCIDRs"]
    assert values["networkPolicy"]["enabled"] is True
    assert cidrs, "production enables the policy: it must name the API server"
    rule = _app_rule(render(values))
    peers = rule["from"]
    assert [p["ipBlock"] for p in peers if "ipBlock" in p] == [{"cidr": c} for c in cidrs]
    assert {"podSelector": {"matchLabels": CLIENT}} in peers, "the helm test pod may call the app"
    for peer in values["networkPolicy"]["from"]:
        assert peer in peers


def test_every_cidr_is_a_peer_on_the_http_port() -> None:
    cidrs = ["10.0.0.10/32", "10.0.0.11/32", "fd00::10/128"]
    rule = _app_rule(render({"networkPolicy": {"enabled": True, "apiServerCIDRs": cidrs}}))
    assert [p["ipBlock"]["cidr"] for p in rule["from"] if "ipBlock" in p] == cidrs


def test_enabled_without_api_server_cidrs_is_refused() -> None:
    for values in (
        {"networkPolicy": {"enabled": True}},
        {"networkPolicy": {"enabled": True, "apiServerCIDRs": []}},
        {**_production_chart_values(), "networkPolicy": {"enabled": True, "apiServerCIDRs": []}},
    ):
        error = render_error(values)
        assert "VALUES VALIDATION:" in error
        assert REFUSAL in error.splitlines(), error


def test_cidrs_must_be_cidrs() -> None:
    error = render_error({"networkPolicy": {"enabled": True, "apiServerCIDRs": ["10.0.0.10"]}})
    assert "/networkPolicy/apiServerCIDRs/0" in error


def test_defaults_render_no_policy_and_need_no_cidrs(default_render: list[dict[str, Any]]) -> None:
    assert not objects(default_render, "NetworkPolicy")
    assert render({"networkPolicy": {"apiServerCIDRs": []}}) == default_render
    # CIDRs alone (policy off) change nothing either.
    assert render({"networkPolicy": {"apiServerCIDRs": ["10.0.0.10/32"]}}) == default_render


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        assert e["operator"] == "In", e
        if labels.get(e["key"]) not in e["values"]:
            return False
    return True


def test_no_policy_selects_the_preview_or_n1_pods() -> None:
    """The preview and N-1 serving pods (zdk_check_pod) keep none of the selector labels:
    the chart's policies leave them open to the API server's pod proxy (docs/contracts.md)."""
    manifests = render(_production_chart_values())
    policies = objects(manifests, "NetworkPolicy")
    assert len(policies) == 2
    deployment = one(manifests, "Deployment")
    app_labels = deployment["spec"]["template"]["metadata"]["labels"]
    [app_policy] = [p for p in policies if p["metadata"]["name"] == RELEASE]
    assert _selects(app_policy["spec"]["podSelector"], app_labels)
    check_pod = load_plugin("filter/check_pod.py").check_pod
    for name, check in (("app-preview", "preview"), ("app-n1-serving", "n1-serving")):
        labels = check_pod(deployment, name, check)["metadata"]["labels"]
        for policy in policies:
            assert not _selects(policy["spec"]["podSelector"], labels), (check, policy)
