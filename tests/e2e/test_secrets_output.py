"""End to end: a deploy at -vvv with --diff prints no secret.

One first install into a Target of its own (migration Job, preview check pod, release,
verify all run): chart values carry a canary in every place a value can reach the pods
(an inline env var through extraEnv, a ConfigMap through configEnv, a Secret through
secretEnv, a pod annotation), and the database URL comes from the Secret the fixture
made. Neither the canary nor the database password or URL (as such or base64-encoded)
may appear in the deploy's output. The static rules behind this are in
tests/pipeline/test_no_secret_output.py."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import Cluster, Target, make_target

pytestmark = pytest.mark.e2e

CANARY = f"zdk-canary-{secrets.token_hex(12)}"
CANARY_VALUES = {
    "extraEnv": [{"name": "ZDK_E2E_CANARY", "value": f"{CANARY}-extra-env"}],
    "configEnv": {"ZDK_E2E_CANARY_CONFIG": f"{CANARY}-config-env"},
    "secretEnv": {"ZDK_E2E_CANARY_SECRET": f"{CANARY}-secret-env"},
    "podAnnotations": {"zdk-e2e.fastapi-zdk.io/canary": f"{CANARY}-annotation"},
}


@pytest.fixture(scope="module")
def quiet(cluster: Cluster, user_release: dict[str, Any]) -> Iterator[Target]:
    with make_target(cluster, "secrets", 30187, values=CANARY_VALUES) as target:
        yield target


def forms(value: str) -> list[str]:
    """The value and its base64 (without the last characters, which depend on what follows)."""
    encoded = base64.b64encode(value.encode()).decode().rstrip("=")
    return [value, encoded[:-2]]


def test_a_verbose_deploy_with_diffs_prints_no_secret(quiet: Target) -> None:
    run = quiet.deploy("0.0.1", "-vvv", "--diff")
    output = run.stdout + run.stderr
    assert run.returncode == 0, run.stdout[-3000:]
    assert len(output) > 100_000, "-vvv output expected"

    # The canary reached the pods: the check below is not vacuous.
    deployments = quiet.cluster.json("-n", quiet.namespace, "get", "deployments")["items"]
    assert len(deployments) == 1
    template = deployments[0]["spec"]["template"]
    env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0].get("env", [])}
    assert env.get("ZDK_E2E_CANARY") == f"{CANARY}-extra-env"
    assert template["metadata"]["annotations"]["zdk-e2e.fastapi-zdk.io/canary"].startswith(CANARY)

    secret = quiet.cluster.json("-n", quiet.namespace, "get", "secret", "fastapi-app-database")
    url = base64.b64decode(secret["data"]["DATABASE_URL"]).decode()
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert len(password) >= 16
    leaks = {
        "chart value canary": CANARY,
        "database password": password,
        "database URL": url,
        **{
            f"chart value {key}": f"{CANARY}-{key}"
            for key in ("extra-env", "config-env", "secret-env")
        },
    }
    found = [what for what, value in leaks.items() for form in forms(value) if form in output]
    assert found == [], f"in the deploy's -vvv --diff output: {sorted(set(found))}"
