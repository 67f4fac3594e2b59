"""End to end on the local cluster, in a namespace of its own: deploy.yml v1 then v2 under
the zero-downtime probes (through the NodePort and through Traefik, by an Ingress and by an
HTTPRoute, at once), an idempotent re-deploy, the failure paths (a migration that
fails, a rollout that cannot start, a release that crashes), the lock, invalid values,
and the status/rollback runbook.

The release here is `shop` with `fullnameOverride: other`: every object is named
`other`, so deploy, verify, rollback and status must take the names from what helm
rendered (nothing may assume the release or chart name)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    Cluster,
    Target,
    assert_no_failed_requests,
    broken_copy,
    describe,
    flat,
    make_target,
    probing_routes,
    run_bash,
    runbook_block,
    wait_routed,
)

pytestmark = pytest.mark.e2e

# 0.0.2 answers "Universe" where 0.0.1 said "World": a change anyone can see.
UNIVERSE = {"app": {"greeting": "Universe"}}
# Revisions this module made, by what they are (tests read them, never assume numbers).
made: dict[str, int] = {}
# Traefik routes these Hosts to the release: one by an Ingress, one by an HTTPRoute.
CANARY = f"zdk-canary-{secrets.token_hex(12)}"
ROUTES = {"ingress": "shop.zdk-e2e.local", "httproute": "shop-gateway.zdk-e2e.local"}
SHOP_VALUES = {
    "fullnameOverride": "other",
    "ingress": {
        "enabled": True,
        "className": "traefik",
        "hosts": [{"host": ROUTES["ingress"], "paths": [{"path": "/", "pathType": "Prefix"}]}],
    },
    "httpRoute": {
        "enabled": True,
        "parentRefs": [{"name": "traefik", "namespace": "traefik"}],
        "hostnames": [ROUTES["httproute"]],
    },
    # The local Traefik's idle timeout for pod connections (roles/local_cluster).
    "proxy": {"kind": "traefik", "upstreamIdleTimeoutSeconds": 60},
    # Chart values in every place they reach the pods: none may appear in the deploy's
    # output (-vvv --diff), whether a Secret's, a ConfigMap's, an env var's or an annotation.
    "secretEnv": {"SHOP_API_KEY": f"{CANARY}-secret-env"},
    "configEnv": {"SHOP_SETTING": f"{CANARY}-config-env"},
    "extraEnv": [{"name": "SHOP_EXTRA", "value": f"{CANARY}-extra-env"}],
    "podAnnotations": {"zdk-e2e.fastapi-zdk.io/canary": f"{CANARY}-annotation"},
}


@pytest.fixture(scope="module")
def shop(cluster: Cluster, user_release: dict[str, Any]) -> Iterator[Target]:
    with make_target(cluster, "deploy", 30181, release="shop", values=SHOP_VALUES) as target:
        yield target


def test_deploy_v1_then_v2_without_failed_requests(shop: Target, tmp_path: Path) -> None:
    # What an operator sees by default: a line per phase, within one screen.
    first = shop.deploy("0.0.1", output="compact")
    assert first.returncode == 0, first.stdout[-3000:]
    assert_one_screen(first.stdout)
    made["0.0.1"] = shop.revision()
    assert set(shop.pod_versions().values()) == {"0.0.1"}
    assert shop.greeting() == "World"
    deployments = shop.cluster.json("-n", shop.namespace, "get", "deployments")["items"]
    assert [d["metadata"]["name"] for d in deployments] == ["other"]
    for host in ROUTES.values():
        wait_routed(host)

    started = time.monotonic()
    with probing_routes(shop.url, ROUTES) as reports:
        # Every step runs here (N-1 check, migrations, preview, release, verify): at the
        # most verbose, with diffs, for the secrets check below.
        second = shop.deploy("0.0.2", "-vvv", "--diff", values=UNIVERSE)
        shop.wait_drained()  # the old pods finish draining under traffic
    for mode, report in reports.items():
        report.write_json(tmp_path / f"probe-{mode}.json")
    print(f"deploy 0.0.2 took {time.monotonic() - started:.1f}s; {describe(reports)}")
    assert second.returncode == 0, second.stdout[-3000:]
    assert_no_failed_requests(reports)
    for name in ("keepalive", "ingress keepalive", "httproute keepalive"):
        assert reports[name].versions_in_order() == ["0.0.1", "0.0.2"], name
    assert set(shop.pod_versions().values()) == {"0.0.2"}
    assert shop.greeting() == "Universe"
    made["0.0.2"] = shop.revision()
    assert shop.verdict(made["0.0.1"]) == shop.verdict(made["0.0.2"]) == "verified"
    # helm list/history show the deployed version (the chart packaged with it).
    assert [r["app_version"] for r in shop.history()][-2:] == ["0.0.1", "0.0.2"]
    assert_no_secret_in(second.stdout + second.stderr, shop)


PHASES = ("preflight", "lock", "image", "migrations", "preview", "release", "verify", "unlock")


def assert_one_screen(output: str) -> None:
    """The default output of a successful deploy: at most 30 lines on a terminal, a line
    per phase that ran (with its duration), no task log."""
    lines = [line for line in output.splitlines() if line.strip()]
    # Progress lines ("  … phase 15.0s ...") are one live line on a terminal.
    screen = [line for line in lines if not line.startswith("  … ")]
    assert len(screen) <= 30, f"{len(screen)} lines:\n{output}"
    for phase in PHASES:
        assert any(re.match(rf" ✓ {phase} +[0-9.]+s", line) for line in lines), (phase, output)
    assert re.search(r"rollout: new (\d+)/\1 ready, old 0 ready", output), output
    assert "TASK [" not in output, output
    assert "RETRYING" not in output, output
    assert lines[-1].startswith("done in "), output


def assert_no_secret_in(output: str, target: Target) -> None:
    """Neither a chart value that reached the pods, nor the database password (read from
    its Secret), nor the deployer's token appear, as such or base64-encoded."""
    template = target.cluster.json("-n", target.namespace, "get", "deployment", "other")["spec"][
        "template"
    ]
    env = {e["name"]: e.get("value") for e in template["spec"]["containers"][0].get("env", [])}
    assert env.get("SHOP_EXTRA") == f"{CANARY}-extra-env", "the canary must reach the pods"
    assert template["metadata"]["annotations"]["zdk-e2e.fastapi-zdk.io/canary"].startswith(CANARY)
    secret = target.cluster.json("-n", target.namespace, "get", "secret", "fastapi-app-database")
    url = base64.b64decode(secret["data"]["DATABASE_URL"]).decode()
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    token = re.search(r"token: (\S+)", target.kubeconfig.read_text())
    assert token is not None
    found = {
        **{
            f"chart value {key}": f"{CANARY}-{key}"
            for key in ("secret-env", "config-env", "extra-env")
        },
        "chart value": CANARY,
        "database password": password,
        "database URL": url,
        "deployer token": token.group(1),
    }
    assert CANARY in json.dumps(SHOP_VALUES)
    assert len(output) > 100_000, "-vvv output expected"
    for what, value in found.items():
        for form in (value, base64.b64encode(value.encode()).decode().rstrip("=")):
            assert form[:-2] not in output, f"the {what} appears in the deploy's output"


def test_redeploy_of_the_same_version_changes_nothing(shop: Target) -> None:
    before_revision = shop.revision()
    before_pods = shop.pod_versions()
    again = shop.deploy("0.0.2", values=UNIVERSE)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "unchanged at revision" in again.stdout
    # Exactly this release serves and was verified: no preview pod of it.
    assert "Start, smoke-check and delete the preview pod" not in again.stdout
    assert shop.revision() == before_revision
    assert shop.pod_versions() == before_pods


def test_failing_migration_stops_the_deploy(shop: Target, tmp_path: Path) -> None:
    # A real broken build: its newest Alembic revision raises.
    broken = broken_copy(
        tmp_path,
        '"""A migration that fails."""\n\nrevision = "0099"\ndown_revision = "0003"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n    raise RuntimeError('deliberately failing migration')\n\n\n"
        "def downgrade() -> None:\n    pass\n",
        where="alembic/versions/0099_fails.py",
    )
    revision = shop.revision()
    # Past the N-1 check (it would refuse this build first): the Job's own failure path.
    failed = shop.deploy(
        "0.0.90-badmigration", "-e", f"zdk_app_dir={broken}", "-e", "zdk_n1_check=false",
        values=UNIVERSE,
    )  # fmt: skip
    assert failed.returncode != 0
    assert re.search(r"migration Job \S+ failed", failed.stdout), failed.stdout[-3000:]
    assert "deliberately failing migration" in failed.stdout
    assert "the old version keeps serving" in failed.stdout
    assert shop.revision() == revision
    assert set(shop.pod_versions().values()) == {"0.0.2"}


def test_rollout_that_cannot_start_is_rolled_back_fast(shop: Target) -> None:
    # Pinned by digest to a repository that does not hold it: ErrImagePull for real.
    missing = {
        "image": {"repository": "127.0.0.1:5000/zdk-e2e/not-pushed"},
        "app": {"greeting": "X"},
    }
    revision = shop.revision()
    started = time.monotonic()
    # No preview pod (it would stop this before the release): the release's own path.
    failed = shop.deploy(
        "0.0.2", "-e", "zdk_migrations=false", "-e", "zdk_preview=false", values=missing,
        output="compact",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert failed.returncode != 0
    # The default output ends with the reason and what was done about it.
    last = failed.stdout.strip().splitlines()[-1]
    assert re.match(
        r"FAILED: .*(ErrImagePull|ImagePullBackOff).*; rolled back to revision", last
    ), last
    assert re.search(r" ✗ verify +[0-9.]+s", failed.stdout), failed.stdout
    assert re.search(r" ✓ rollback +[0-9.]+s", failed.stdout), failed.stdout
    assert re.search(rf"rolled\s+back\s+to\s+revision\s+{made['0.0.2']}\b", failed.stdout)
    assert elapsed < 240, f"fail-fast took {elapsed:.0f}s"
    assert shop.revision() == revision + 2  # the failed upgrade + the rollback
    assert shop.verdict(revision + 1) == "failed"
    assert shop.verdict(revision + 2) == "verified"
    assert set(shop.pod_versions().values()) == {"0.0.2"}


def phase_seconds(output: str, phase: str) -> float:
    found = re.search(rf" [✓✗] {phase} +([0-9.]+)s", output)
    assert found, output[-3000:]
    return float(found.group(1))


def test_a_release_that_never_becomes_ready_is_stopped_at_its_timeout(shop: Target) -> None:
    """Pods that run but never turn ready (a readiness path that answers 404) are no fast
    failure: the waits end on their timeouts. The timeouts are times, not counts of polls:
    each poll is an API read on top of its delay, so counted polls overran the bound
    asserted here (the preview took 16.5 s for 10 s at 0.1 s polls; at 0.05 s, worse)."""
    # A plain N too: it must reach helm as a string (tests/chart/test_values_to_helm.py).
    never_ready = {"probes": {"readiness": {"path": "/never-ready"}}, "app": {"greeting": "N"}}
    fast_polls = ("-e", "zdk_migrations=false", "-e", "verify_poll_seconds=0.05")
    revision = shop.revision()

    # The preview pod: stopped before the release, nothing released.
    refused = shop.deploy(
        "0.0.2", *fast_polls, "-e", "verify_check_pod_timeout_seconds=10",
        values=never_ready, output="compact",
    )  # fmt: skip
    assert refused.returncode != 0
    last = refused.stdout.strip().splitlines()[-1]
    never = (
        r"FAILED: 0\.0\.2 \(preview, not released\) "
        r"did not become ready: Running, not ready after 10s"
    )
    assert re.match(never, last), last
    preview = phase_seconds(refused.stdout, "preview")
    assert 10 <= preview < 16, f"the preview wait of 10s took {preview}s"
    assert shop.revision() == revision

    # The release itself (no preview): the rollout wait ends at its timeout, then the rollback.
    failed = shop.deploy(
        "0.0.2", *fast_polls, "-e", "zdk_preview=false", "-e", "verify_timeout_seconds=10",
        values=never_ready, output="compact",
    )  # fmt: skip
    assert failed.returncode != 0
    last = failed.stdout.strip().splitlines()[-1]
    timed_out = r"FAILED: .*rollout not complete after 10s: .*; rolled back to revision"
    assert re.match(timed_out, last), last
    verify = phase_seconds(failed.stdout, "verify")
    assert 10 <= verify < 16, f"the rollout wait of 10s took {verify}s"
    assert shop.revision() == revision + 2  # the release that never became ready + the rollback
    assert shop.verdict(revision + 1) == "failed"
    assert shop.verdict(revision + 2) == "verified"
    assert set(shop.pod_versions().values()) == {"0.0.2"}
    shop.wait_lock_free()


def test_release_that_crashes_at_start_up_is_rolled_back_under_load(
    shop: Target, tmp_path: Path
) -> None:
    # A real broken build: the app's module raises at import, so uvicorn exits at start-up.
    broken = broken_copy(tmp_path, '\nraise SystemExit("deliberately broken release")\n')
    revision = shop.revision()

    with probing_routes(shop.url, ROUTES) as reports:
        # No preview pod (it would stop this before the release): the rollback path.
        failed = shop.deploy(
            "0.0.3-broken", "-e", f"zdk_app_dir={broken}", "-e", "zdk_preview=false",
            values=UNIVERSE,
        )  # fmt: skip
        shop.wait_drained()
    print(f"broken release under load: {describe(reports)}")
    assert failed.returncode != 0
    verify_time = re.search(
        r"verify\s+failed\s+for\s+0\.0\.3-broken\s+after\s+([0-9.]+)s", failed.stdout
    )
    assert verify_time, failed.stdout[-3000:]
    print(
        f"P5 crash at start-up: rollback decided {verify_time.group(1)}s after the rollout started"
    )
    assert float(verify_time.group(1)) < 60, "the failure must be seen fast, not at a timeout"
    assert "rolled back to revision" in failed.stdout
    assert_no_failed_requests(reports)
    assert shop.revision() == revision + 2  # the failed upgrade + the rollback
    made["0.0.3-broken"] = revision + 1
    assert shop.verdict(revision + 1) == "failed"
    assert set(shop.pod_versions().values()) == {"0.0.2"}
    assert shop.greeting() == "Universe"


def live_lease(target: Target, holder: str, duration: int, stop: threading.Event) -> None:
    """Another run's Lease: created now and, until `stop`, renewed every second."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": target.lock_name,
            "namespace": target.namespace,
            "annotations": {"fastapi-zdk.io/purpose": "deploy 9.9.9"},
        },
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "acquireTime": now,
            "renewTime": now,
        },
    }
    target.cluster.kubectl_run("apply", "-f", "-", stdin=json.dumps(lease))
    while not stop.wait(1):
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        patch = json.dumps({"spec": {"renewTime": now}})
        target.cluster.kubectl_run(
            "-n",
            target.namespace,
            "patch",
            "lease",
            target.lock_name,
            "--type=merge",
            "-p",
            patch,
            check=False,
        )


def test_a_live_lock_refuses_and_a_stale_one_is_taken_over(shop: Target) -> None:
    revision = shop.revision()
    stop = threading.Event()
    renewer = threading.Thread(
        target=live_lease, args=(shop, "ops@elsewhere:1a2b3c4d", 60, stop), daemon=True
    )
    renewer.start()
    try:
        time.sleep(2)
        started = time.monotonic()
        refused = shop.deploy("0.0.2", values={"app": {"greeting": "Refused"}})
        assert refused.returncode != 0
        assert re.search(
            r"another\s+deploy\s+holds\s+the\s+lock:\s+ops@elsewhere:1a2b3c4d", refused.stdout
        )
        assert "deploy 9.9.9" in refused.stdout
        assert time.monotonic() - started < 90
        assert shop.revision() == revision
        lease = shop.lease()
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == "ops@elsewhere:1a2b3c4d", (
            "the other lock is left alone"
        )
    finally:
        stop.set()
        renewer.join()

    # Its holder is gone: nobody renews it. Watched unchanged for its duration (10 s),
    # the lock is taken over, and released at the end.
    shop.cluster.kubectl_run("-n", shop.namespace, "delete", "lease", shop.lock_name)
    stale = threading.Event()
    stale.set()
    live_lease(shop, "crashed@host:deadbeef", 10, stale)
    taken = shop.deploy("0.0.2", values=UNIVERSE)
    assert taken.returncode == 0, taken.stdout[-3000:]
    assert "taken over from crashed@host:deadbeef" in flat(taken.stdout)
    assert shop.lease() is None, "the deploy must release the lock it took over"


def test_invalid_values_are_refused_before_anything_changes(shop: Target) -> None:
    revision = shop.revision()
    bad = shop.deploy("0.0.2", values={"terminationGracePeriodSeconds": 5})
    assert bad.returncode != 0
    assert "terminationGracePeriodSeconds" in bad.stdout
    assert shop.revision() == revision
    assert shop.lease() is None, "no lock taken"


def test_keep_alive_not_above_the_proxy_idle_timeout_is_refused(shop: Target) -> None:
    """Traefik keeps idle pod connections 60 s: an app keep-alive of 60 s would let it
    reuse a connection uvicorn has just closed (a 502 with no deploy at all)."""
    revision = shop.revision()
    bad = shop.deploy("0.0.2", values={"lifecycle": {"keepAliveSeconds": 60}})
    assert bad.returncode != 0
    out = flat(bad.stdout)
    assert "lifecycle.keepAliveSeconds (60) must be above" in out, bad.stdout[-3000:]
    assert "proxy.upstreamIdleTimeoutSeconds (60" in out
    assert shop.revision() == revision
    assert shop.lease() is None, "no lock taken"


def test_status_and_rollback_runbook(shop: Target) -> None:
    """docs/runbooks/rollback.md, step by step, after the crash above was rolled back
    automatically: status shows the verdicts; rollback.yml without a revision goes to the
    previous *version* (0.0.1), not to the crashed build and not to a copy of 0.0.2; a
    revision that never passed verify needs force; then the by-hand block goes forward
    to 0.0.2 again, and the next status verifies what was done by hand."""
    status = shop.playbook("playbooks/status.yml")
    assert status.returncode == 0, status.stdout[-3000:]
    crashed = made["0.0.3-broken"]
    assert re.search(rf"\b{crashed}\s+superseded\s+failed\s+0\.0\.3-broken", status.stdout)
    assert re.search(r"other-\S+\s+Running, ready\s+0\.0\.2", status.stdout)

    refused = shop.playbook("playbooks/rollback.yml", "-e", f"revision={crashed}")
    assert refused.returncode != 0
    assert "never passed verify (failed)" in flat(refused.stdout)
    assert "force=true" in refused.stdout

    serving = shop.revision()  # 0.0.2, verified
    with probing_routes(shop.url, ROUTES) as reports:
        back = shop.playbook("playbooks/rollback.yml")
        shop.wait_drained()
    assert back.returncode == 0, back.stdout[-3000:]
    assert f"-> revision {made['0.0.1']} (0.0.1)" in flat(back.stdout)
    assert set(shop.pod_versions().values()) == {"0.0.1"}
    assert shop.greeting() == "World"
    assert shop.revision() == serving + 1
    assert shop.verdict(serving + 1) == "verified"
    assert_no_failed_requests(reports)

    bad = shop.playbook("playbooks/rollback.yml", "-e", "revision=abc")
    assert bad.returncode != 0
    assert "invalid revision" in bad.stdout

    with probing_routes(shop.url, ROUTES) as reports:
        by_hand = run_bash(
            runbook_block("rollback.md", "## By hand (the playbook is not available)"),
            RELEASE=shop.release,
            NAMESPACE=shop.namespace,
            REVISION=str(serving),
            # As the deployer: the runbook must work with the deploy's own rights.
            KUBECONFIG=str(shop.kubeconfig),
        )
        shop.wait_drained()
    assert by_hand.returncode == 0, by_hand.stderr[-2000:]
    assert set(shop.pod_versions().values()) == {"0.0.2"}
    assert shop.greeting() == "Universe"
    assert_no_failed_requests(reports)
    after = shop.playbook("playbooks/status.yml")
    assert after.returncode == 0, after.stdout[-3000:]
    assert f"repair: revision {shop.revision()} (0.0.2) was never verified" in flat(after.stdout)
    assert shop.verdict(shop.revision()) == "verified"
