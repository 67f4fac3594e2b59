"""The wrong-cluster guard (plugins/filter/cluster_pin.py and playbooks/tasks/preflight.yml):
an inventory pinned to one cluster's CA and one namespace refuses any other, and the
production inventory refuses a non-interactive run without confirmation, before anything
is read from or written to a cluster."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, RunAnsible, load_plugin
from .test_preflight import RECAP, failure_lines

pin = load_plugin("filter/cluster_pin.py")


def make_ca(directory: Path, name: str) -> tuple[Path, str]:
    """A throw-away self-signed CA and its fingerprint as openssl prints it."""
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(cert)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    return cert, out.strip().split("=", 1)[1]


def kubeconfig(
    cert: Path | None, context: str = "prod", cluster: dict[str, object] | None = None
) -> str:
    entry: dict[str, object] = {"server": "https://127.0.0.1:1"}
    if cert is not None:
        entry["certificate-authority-data"] = base64.b64encode(cert.read_bytes()).decode()
    entry.update(cluster or {})
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": entry}],
            "users": [{"name": "u", "user": {"token": "x"}}],
            "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
            "current-context": context,
        }
    )


@pytest.fixture(scope="module")
def cas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    directory = tmp_path_factory.mktemp("ca")
    return {name: make_ca(directory, name) for name in ("ours", "theirs")}


def test_the_filter_agrees_with_openssl(cas: dict[str, tuple[Path, str]]) -> None:
    cert, fingerprint = cas["ours"]
    assert pin.pem_fingerprints(cert.read_text()) == [pin.normalize_fingerprint(fingerprint)]
    text = kubeconfig(cert)
    for spelling in (fingerprint, fingerprint.lower(), "sha256:" + fingerprint.replace(":", "")):
        assert pin.cluster_pin_problem(text, {"ca_sha256": spelling}, "prod", "app") == ""


def test_another_ca_is_the_wrong_cluster(cas: dict[str, tuple[Path, str]]) -> None:
    problem = pin.cluster_pin_problem(
        kubeconfig(cas["theirs"][0]), {"ca_sha256": cas["ours"][1]}, "prod", "app"
    )
    assert problem.startswith(
        "wrong cluster: https://127.0.0.1:1 (context prod) is served under CA sha256:"
    )


def test_a_ca_file_next_to_the_kubeconfig_counts(cas: dict[str, tuple[Path, str]]) -> None:
    cert, fingerprint = cas["ours"]
    text = kubeconfig(None, cluster={"certificate-authority": cert.name})
    assert (
        pin.cluster_pin_problem(text, {"ca_sha256": fingerprint}, "prod", "app", str(cert.parent))
        == ""
    )


@pytest.mark.parametrize(
    ("pinned", "config", "expected"),
    [
        ({"namespace": "app"}, {}, "wrong namespace: other is not app"),
        ({"ca_sha256": "abc"}, {}, 'zdk_cluster_pin.ca_sha256 "abc" is not a SHA-256 fingerprint'),
        ({"cluster": "x"}, {}, "zdk_cluster_pin: unknown key cluster"),
        ({"ca_sha256": "ab" * 32}, {"insecure-skip-tls-verify": True}, "skips TLS verification"),
        ({"ca_sha256": "ab" * 32}, {"no-ca": True}, "names no CA"),
    ],
)
def test_what_cannot_pass(pinned: dict[str, str], config: dict[str, object], expected: str) -> None:
    text = kubeconfig(None, cluster=config)
    assert expected in pin.cluster_pin_problem(text, pinned, "prod", "other")


def test_nothing_pinned_passes() -> None:
    assert pin.cluster_pin_problem("", {}, "any", "any") == ""
    assert pin.cluster_pin_problem("", None, "any", "any") == ""


def refused_before_the_cluster(output: str) -> str:
    """The one failure line of a run that stopped before anything was asked of a cluster."""
    messages = failure_lines(output)
    assert len(messages) == 1, output
    recap = RECAP.search(output)
    assert recap is not None, output
    assert recap.group(1) == "0", "a refused run must change nothing"
    assert "Reach the cluster" not in output
    return messages[0]


def test_a_deploy_to_a_cluster_that_is_not_the_pinned_one_is_refused(
    run_playbook: RunAnsible, cas: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        kubeconfig(cas["theirs"][0], context="fastapi-zdk-deployer@fastapi-zdk-local")
    )
    pinned = {"zdk_kubeconfig": str(config), "zdk_cluster_pin": {"ca_sha256": cas["ours"][1]}}
    result = run_playbook("deploy.yml", "-e", "version=0.0.2", "-e", json.dumps(pinned))
    line = refused_before_the_cluster(result.stdout + result.stderr)
    assert "wrong cluster" in line
    assert "is pinned to sha256:" in " ".join(result.stdout.split())
    assert "nothing was changed" in result.stdout


def test_the_production_inventory_needs_confirmation(run_playbook: RunAnsible) -> None:
    for extra in ([], ["-e", "confirm=staging"]):
        result = run_playbook(
            "-i", "inventory/production", "deploy.yml", "-e", "version=0.0.2", *extra
        )
        line = refused_before_the_cluster(result.stdout + result.stderr)
        assert "deploy in production needs confirmation: add -e confirm=production" in line
    rollback = run_playbook("-i", "inventory/production", "playbooks/rollback.yml")
    assert "rollback in production needs confirmation" in refused_before_the_cluster(
        rollback.stdout
    )


def test_the_production_inventory_goes_on_when_confirmed(
    run_playbook: RunAnsible, tmp_path: Path
) -> None:
    """Confirmed, the run passes the confirmation and stops at the next check (no
    kubeconfig here)."""
    result = run_playbook(
        "-i", "inventory/production", "deploy.yml", "-e", "version=0.0.2",
        "-e", "confirm=production", KUBECONFIG=str(tmp_path / "absent"),
    )  # fmt: skip
    line = refused_before_the_cluster(result.stdout + result.stderr)
    assert "needs confirmation" not in line
    assert "absent not found" in " ".join(result.stdout.split())


def test_the_production_inventory_pins_a_cluster() -> None:
    production = yaml.safe_load((REPO / "inventory/production/group_vars/all/main.yml").read_text())
    assert set(production["zdk_cluster_pin"]) == {"ca_sha256", "namespace"}
    assert production["zdk_cluster_pin"]["namespace"] == production["zdk_namespace"]
    assert production["zdk_confirm_required"] is True
