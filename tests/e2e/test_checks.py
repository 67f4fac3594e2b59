"""Proving that a new version works, not only that it runs (docs/runbooks/migrations.md,
docs/runbooks/deploy.md), on the local cluster in a namespace of its own, each under the
zero-downtime probes where traffic flows: a build whose /endpoint raises never takes
traffic (preview) and is rolled back when it was released anyway; a build that exits 60 s
after start is rolled back by the analysis window; a migration that renames a column the
serving version reads is refused by the N-1 check before the production schema changes;
an additive one passes and deploys; an older build on the newer database runs nothing
and is judged by the checks."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import (
    BIN,
    DB_PREFIX,
    REPO,
    Cluster,
    Target,
    ansible_env,
    assert_no_failed_requests,
    broken_copy,
    describe,
    flat,
    make_target,
    probing,
    psql,
)

pytestmark = pytest.mark.e2e

DATABASE = DB_PREFIX + "checks"
made: dict[str, int] = {}

RAISES = (
    "\n\n@router.get('/endpoint-broken')\nasync def _unused() -> None: ...\n\n\n"
    "router.routes[:] = [r for r in router.routes if getattr(r, 'path', '') != '/endpoint']\n\n\n"
    "@router.get('/endpoint')\nasync def endpoint_raises() -> dict[str, str]:\n"
    "    raise RuntimeError('deliberately broken /endpoint')\n"
)
# Stops itself the way Kubernetes stops it (SIGTERM: drain, then exit) 60 s after start.
EXITS_LATE = (
    "\n\nimport os as _os, signal as _signal, threading as _threading\n\n"
    "_timer = _threading.Timer(60, lambda: _os.kill(_os.getpid(), _signal.SIGTERM))\n"
    "_timer.daemon = True\n_timer.start()\n"
)
MIGRATION = (
    '"""{doc}"""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
    'revision = "0004"\ndown_revision = "0003"\nbranch_labels = None\ndepends_on = None\n\n\n'
    "def upgrade() -> None:\n    {up}\n\n\ndef downgrade() -> None:\n    {down}\n"
)
RENAME = MIGRATION.format(
    doc="Rename items.name (not expand-only: the serving version reads it).",
    up='op.alter_column("items", "name", new_column_name="title")',
    down='op.alter_column("items", "title", new_column_name="name")',
)
ADD = MIGRATION.format(
    doc="Add items.note (expand-only).",
    up='op.add_column("items", sa.Column("note", sa.Text(), nullable=True))',
    down='op.drop_column("items", "note")',
)


@pytest.fixture(scope="module")
def checks(cluster: Cluster, user_release: dict[str, Any]) -> Iterator[Target]:
    with make_target(cluster, "checks", 30184) as target:
        yield target


def database_revision() -> str:
    return psql("SELECT version_num FROM alembic_version", database=DATABASE).strip()


def items_status(target: Target) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{target.url}/items?limit=1", timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def seconds_to_failure(output: str, version: str) -> float:
    found = re.search(rf"verify\s+failed\s+for\s+{re.escape(version)}\s+after\s+([0-9.]+)s", output)
    assert found, output[-3000:]
    return float(found.group(1))


def test_a_deploy_reports_its_smoke_checks_and_analysis(checks: Target) -> None:
    first = checks.deploy("0.0.1", "-e", "zdk_analysis_seconds=5")
    assert first.returncode == 0, first.stdout[-3000:]
    made["0.0.1"] = checks.revision()
    out = flat(first.stdout)
    assert "2 smoke checks passed on each pod" in out, out[-3000:]
    analysis = r"analysis [0-9.]+s on 2 pods: \d+ requests, 0 5xx, 0 restarts"
    assert re.search(analysis, out), out[-3000:]
    assert database_revision() == "0003"


def ask_versions(target: Target, pods: list[str], path: str) -> dict[str, str]:
    """verify's and status's version query (zdk_checks state=versions), run on its own as
    the deployer: {pod: version or why none}."""
    arguments = {
        "state": "versions",
        "namespace": target.namespace,
        "port": 8000,
        "path": path,
        "pods": pods,
        "unreachable_seconds": 0,
        "kubeconfig": str(target.kubeconfig),
    }
    run = subprocess.run(
        [str(BIN / "ansible"), "localhost", "-m", "zdk_checks", "-a", json.dumps(arguments)],
        cwd=REPO,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    # ansible.cfg prints results as YAML.
    return dict(yaml.safe_load(run.stdout.split("=>", 1)[1])["versions"])


def test_the_version_query_asks_every_pod_in_one_call(checks: Target) -> None:
    """Each pod's own answer, in the pods' order, and why there is none when there is none
    (checked against kubectl's reading of each pod)."""
    serving = checks.pod_versions()
    pods = sorted(serving)
    assert len(pods) == 2, serving
    assert ask_versions(checks, pods, "/health") == serving == dict.fromkeys(pods, "0.0.1")
    gone = "fastapi-app-no-such-pod"
    assert ask_versions(checks, [*pods, gone], "/no-such-path") == {
        **dict.fromkeys(pods, "HTTP 404"),
        gone: "HTTP 404",
    }
    # /endpoint answers JSON without a version field.
    assert ask_versions(checks, pods[:1], "/endpoint") == {pods[0]: "no version"}


def test_a_build_whose_endpoint_raises_never_takes_traffic(checks: Target, tmp_path: Path) -> None:
    broken = broken_copy(tmp_path, RAISES, where="fastapi_app/api/routes/hello.py")
    revision = checks.revision()
    with probing(checks.url) as reports:
        failed = checks.deploy("0.0.2-raises", "-e", f"zdk_app_dir={broken}")
    print(f"raising build, preview: {describe(reports)}")
    out = flat(failed.stdout)
    assert failed.returncode != 0
    assert re.search(
        r"0\.0\.2-raises \(preview, not released\): smoke check failed on pod \S+-preview:"
        r" GET /endpoint answered 500, expected 200",
        out,
    ), out[-3000:]
    assert_no_failed_requests(reports)
    assert checks.revision() == revision
    assert set(checks.pod_versions().values()) == {"0.0.1"}


def test_a_released_build_whose_endpoint_raises_is_rolled_back(
    checks: Target, tmp_path: Path
) -> None:
    """Without the preview (zdk_preview=false) the new pods serve before verify: the
    per-pod smoke checks find them, name pod, path and status, and roll back."""
    broken = broken_copy(tmp_path, RAISES, where="fastapi_app/api/routes/hello.py")
    revision = checks.revision()
    failed = checks.deploy("0.0.2-raises", "-e", f"zdk_app_dir={broken}", "-e", "zdk_preview=false")
    out = flat(failed.stdout)
    assert failed.returncode != 0
    elapsed = seconds_to_failure(out, "0.0.2-raises")
    print(f"P5 500-ing build: rolled back after {elapsed:.1f}s of verify")
    assert re.search(
        r"smoke check failed on pod \S+: GET /endpoint answered 500, expected 200", out
    ), out[-3000:]
    assert f"rolled back to revision {made['0.0.1']}" in out
    assert checks.verdict(revision + 1) == "failed"
    assert checks.verdict(revision + 2) == "verified"
    assert set(checks.pod_versions().values()) == {"0.0.1"}


def test_a_build_that_exits_60s_after_start_is_rolled_back_in_the_analysis_window(
    checks: Target, tmp_path: Path
) -> None:
    late = broken_copy(tmp_path, EXITS_LATE)
    revision = checks.revision()
    with probing(checks.url) as reports:
        failed = checks.deploy(
            "0.0.3-late", "-e", f"zdk_app_dir={late}", "-e", "zdk_analysis_seconds=90",
            "-e", "zdk_replicas=3",
        )  # fmt: skip
        checks.wait_drained()
    elapsed = seconds_to_failure(flat(failed.stdout), "0.0.3-late")
    print(f"P5 late exit: rolled back after {elapsed:.1f}s of verify; {describe(reports)}")
    out = flat(failed.stdout)
    assert failed.returncode != 0
    assert re.search(r"pod \S+ (restarted|became unready)", out), out[-3000:]
    assert "rolled back to revision" in out
    assert 60 <= elapsed < 120
    assert checks.verdict(revision + 1) == "failed"
    assert_no_failed_requests(reports)
    assert set(checks.pod_versions().values()) == {"0.0.1"}


def test_the_n1_check_says_how_to_grant_what_it_needs(checks: Target, tmp_path: Path) -> None:
    additive = broken_copy(tmp_path, ADD, where="alembic/versions/0004_items_note.py")
    psql(f'ALTER ROLE "{DATABASE}" NOCREATEDB')
    try:
        refused = checks.deploy("0.0.4", "-e", f"zdk_app_dir={additive}")
    finally:
        psql(f'ALTER ROLE "{DATABASE}" CREATEDB')
    out = flat(refused.stdout)
    assert refused.returncode != 0
    assert (
        f"N-1 check: database role {DATABASE} cannot create the scratch database; grant it"
        f" (ALTER ROLE {DATABASE} CREATEDB) or opt out with -e zdk_n1_check=false;"
        " nothing was changed"
    ) in out, out[-3000:]
    assert database_revision() == "0003"


def test_a_migration_that_renames_a_column_in_use_is_refused_before_the_schema_changes(
    checks: Target, tmp_path: Path
) -> None:
    rename = broken_copy(tmp_path, RENAME, where="alembic/versions/0004_rename_name.py")
    revision = checks.revision()
    with probing(checks.url) as reports:
        refused = checks.deploy("0.0.4-rename", "-e", f"zdk_app_dir={rename}")
    print(f"renaming migration: {describe(reports)}")
    out = flat(refused.stdout)
    assert refused.returncode != 0
    assert re.search(
        r"N-1 check: 0\.0\.1 \(serving now\) on the schema after 0003 -> 0004: smoke check"
        r" failed on pod \S+: GET /items\?limit=1 answered 5\d\d, expected 200",
        out,
    ), out[-3000:]
    assert_no_failed_requests(reports)
    assert database_revision() == "0003"
    assert checks.revision() == revision
    assert items_status(checks) == 200
    leftovers = psql("SELECT datname FROM pg_database WHERE datname LIKE 'zdk_n1_%'")
    assert leftovers.strip() == "", f"scratch database left behind: {leftovers}"


def test_a_release_the_api_server_refuses_stops_before_the_migrations(
    checks: Target, tmp_path: Path
) -> None:
    """helm accepts an annotation key Kubernetes does not (its --dry-run=server validates
    nothing); the kit's server-side apply dry run, made before the migrations, has the API
    server refuse it: the schema and the release stay as they were."""
    additive = broken_copy(tmp_path, ADD, where="alembic/versions/0004_items_note.py")
    revision = checks.revision()
    refused = checks.deploy(
        "0.0.4-refused",
        "-e",
        f"zdk_app_dir={additive}",
        values={"podAnnotations": {"not a valid key!": "x"}},
    )
    out = flat(refused.stdout)
    assert refused.returncode != 0
    assert re.search(
        r"release: the API server refuses the release: .*Invalid value: \"not a valid key!\"", out
    ), out[-3000:]
    assert "Apply the migration Job" not in refused.stdout
    assert database_revision() == "0003"
    assert checks.revision() == revision
    assert set(checks.pod_versions().values()) == {"0.0.1"}
    checks.wait_lock_free()


def test_an_additive_migration_passes_the_n1_check_and_deploys(
    checks: Target, tmp_path: Path
) -> None:
    additive = broken_copy(tmp_path, ADD, where="alembic/versions/0004_items_note.py")
    with probing(checks.url) as reports:
        deployed = checks.deploy("0.0.4", "-e", f"zdk_app_dir={additive}")
        checks.wait_drained()
    print(f"additive migration: {describe(reports)}")
    out = flat(deployed.stdout)
    assert deployed.returncode == 0, out[-3000:]
    assert "N-1 check: schema 0003 -> 0004" in out
    assert_no_failed_requests(reports)
    assert database_revision() == "0004"
    assert set(checks.pod_versions().values()) == {"0.0.4"}


def test_an_older_build_on_the_newer_database_runs_no_migration(checks: Target) -> None:
    """A roll-forward to a build that does not know revision 0004: the migration Job
    runs nothing and says so; the checks decide (0004 only added a column), here with the
    chart's helm test as one more (its pod sends the smoke checks through the Service)."""
    started = time.monotonic()
    older = checks.deploy("0.0.5", "-e", "zdk_helm_test=true")
    out = flat(older.stdout)
    assert older.returncode == 0, out[-3000:]
    assert (
        "(database is ahead of this build: at revision 0004, this build's head is 0003;"
        " no migration run)"
    ) in out, out[-3000:]
    assert "N-1 check: not needed (the database is ahead of this build)" in out
    assert "2 smoke checks passed on each pod; helm test passed" in out
    assert database_revision() == "0004"
    assert set(checks.pod_versions().values()) == {"0.0.5"}
    print(f"older build on the newer database deployed in {time.monotonic() - started:.0f}s")
