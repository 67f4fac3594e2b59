"""Fixtures for end-to-end tests on the local cluster (make cluster-up).

The suite leaves the user's own deployment alone: every test module deploys into a
`Target` of its own (namespace zdk-e2e-<name>, its own release, NodePort, PostgreSQL
database and image repository), made and removed by fixtures, and drives the real
playbooks with the same inventory through the variables a user would set
(zdk_namespace, zdk_release, ...). Assertions use revisions the test itself created.
Leftovers of an interrupted earlier run are removed first; the user's default release
is recorded at the start and must be exactly the same at the end
(test_user_release.py).

Without a cluster these tests skip on a workstation and FAIL under CI=true: a missing
prerequisite must never pass silently.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from zdprobe import ProbeConfig, ProbeInBackground, Report

REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("ZDK_STATE_DIR", "/var/lib/fastapi-zdk"))
KUBECONFIG = STATE_DIR / "kubeconfig"
KUBECTL = STATE_DIR / "kubectl"
REGISTRY = "127.0.0.1:5000"
BIN = Path(sys.executable).parent
TOOLS = Path(os.environ.get("ZDK_CACHE", Path.home() / ".cache/fastapi-zdk")) / "tools/bin"
HELM = TOOLS / "helm"

# Everything the suite makes carries this label (namespaces) or prefix (databases).
TEST_LABEL = "fastapi-zdk.io/test-suite"
TEST_PREFIX = "zdk-e2e-"
DB_PREFIX = "zdk_e2e_"
# Where the suite's images go: never the user's repository (tags stay theirs).
TEST_REPOSITORY = f"{REGISTRY}/zdk-e2e/fastapi-app"
# The user's release, as inventory/local names it.
USER_NAMESPACE = "fastapi-app"
USER_RELEASE = "fastapi-app"
PG_SOCKET_DIR = "/run/fastapi-zdk/postgresql"
PG_HOST_IN_CLUSTER = "postgresql.platform.svc.cluster.local"
# Targets deploy as their namespace's least-privilege deployer (playbooks/deployer.yml),
# whose ClusterRole and binding are named after the namespace.
DEPLOYER = "fastapi-zdk-deployer"


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail under CI, when a prerequisite is missing."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"prerequisite missing under CI: {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    kubectl: Path

    def kubectl_run(
        self, *args: str, check: bool = True, timeout: float = 120, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        base = [str(self.kubectl), f"--kubeconfig={self.kubeconfig}"]
        return _tool(base, args, check=check, timeout=timeout, stdin=stdin)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl_run(*args, "-o", "json").stdout)

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        base = [str(HELM), "--kubeconfig", str(self.kubeconfig)]
        return _tool(base, args, check=check, timeout=timeout).stdout


def _tool(
    base: list[str],
    args: tuple[str, ...],
    *,
    check: bool,
    timeout: float,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run kubectl or helm; with check, a failure is an assertion naming the command."""
    result = subprocess.run(
        [*base, *args], capture_output=True, text=True, timeout=timeout, input=stdin, check=False
    )
    if check and result.returncode != 0:
        name = Path(base[0]).name
        raise AssertionError(f"{name} {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def psql(sql: str, database: str = "postgres") -> str:
    """SQL as the PostgreSQL superuser of the local cluster (statements on stdin, so no
    password ever shows on a command line)."""
    return subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-h",
            PG_SOCKET_DIR,
            "-p",
            "5432",
            "-v",
            "ON_ERROR_STOP=1",
            "-qtAX",
            "-d",
            database,
        ],
        input=sql,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def ansible_env(output: str = "full") -> dict[str, str]:
    """The environment of a playbook run. output="full": Ansible's task log (the tests
    read the messages of single tasks); "compact": what an operator sees by default (the
    zdk callback's line per phase)."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}:{TOOLS}:{env.get('PATH', '')}",
        ZDK_OUTPUT="full" if output == "full" else "",
    )
    return env


def run_playbook(
    path: str, *extra: str, timeout: float = 1200, output: str = "full"
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook from the repo root with the default inventory (inventory/local)."""
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), path, *extra],
        cwd=REPO,
        env=ansible_env(output),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    sys.stdout.write(result.stdout[-6000:])
    return result


def flat(text: str) -> str:
    """Output with every run of white space as one space (Ansible folds long lines)."""
    return " ".join(text.split())


def runbook_block(runbook: str, heading: str) -> str:
    """The first ```bash block under `heading` in docs/runbooks/<runbook>: tests run the
    runbooks' commands as they stand."""
    text = (REPO / "docs" / "runbooks" / runbook).read_text()
    section = text.split(f"\n{heading}\n", 1)[1]
    return section.split("```bash\n", 1)[1].split("\n```", 1)[0]


def run_bash(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-c", script],
        env={**ansible_env(), **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    sys.stdout.write(result.stdout[-4000:] + result.stderr[-2000:])
    return result


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            merged(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def broken_copy(tmp_path: Path, edit: str, where: str = "fastapi_app/main.py") -> Path:
    """A copy of the app with a real fault (or a new migration) built in: `edit` is
    appended to `where` (a new file when it does not exist)."""
    copy = tmp_path / "app"
    shutil.copytree(
        REPO / "app", copy, ignore=shutil.ignore_patterns("tests", "bench", "__pycache__")
    )
    path = copy / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((path.read_text() if path.exists() else "") + edit)
    return copy


def release_pods(cluster: Cluster, namespace: str, release: str) -> list[dict[str, Any]]:
    """The release's pods (the migration Job's included)."""
    selector = f"app.kubernetes.io/instance={release}"
    return list(cluster.json("-n", namespace, "get", "pods", "-l", selector)["items"])


def serving_versions(cluster: Cluster, namespace: str, release: str) -> dict[str, str]:
    """Every running app pod of the release and the version its /health reports ("?" when
    it does not answer), read through the API server's pod proxy."""
    versions = {}
    for pod in release_pods(cluster, namespace, release):
        meta = pod["metadata"]
        if (
            meta.get("deletionTimestamp")
            or pod["status"].get("phase") != "Running"
            or meta.get("labels", {}).get("app.kubernetes.io/component") == "migrations"
        ):
            continue
        raw = cluster.kubectl_run(
            "get",
            "--raw",
            f"/api/v1/namespaces/{namespace}/pods/{meta['name']}:8000/proxy/health",
            check=False,
        )
        versions[meta["name"]] = (
            json.loads(raw.stdout).get("version", "?") if raw.returncode == 0 else "?"
        )
    return versions


@dataclass
class Running:
    """An ansible-playbook started in the background (its own session, as a terminal
    job), with its output in a file."""

    process: subprocess.Popen[str]
    output: Path
    started: float = field(default_factory=time.monotonic)

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 300) -> float:
        """Wait until the output matches `pattern`; returns seconds since the start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text()):
                return time.monotonic() - self.started
            if self.process.poll() is not None:
                raise AssertionError(f"playbook ended before {pattern!r}:\n{self.text()[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not seen in {timeout}s:\n{self.text()[-3000:]}")

    def wait_for_release_status(self, target: Target, status: str, timeout: float = 300) -> None:
        """Return the moment helm writes a record of `target`'s release with this status
        (e.g. pending-upgrade: helm is mid-operation), watching helm's release Secrets."""
        import kubernetes

        kube: Any = kubernetes  # the client's watch API is untyped
        api = kube.client.CoreV1Api(
            kube.config.new_client_from_config(str(target.cluster.kubeconfig))
        )
        selector = f"owner=helm,name={target.release},status={status}"
        stream = kube.watch.Watch()
        for _ in stream.stream(
            api.list_namespaced_secret,
            target.namespace,
            label_selector=selector,
            timeout_seconds=int(timeout),
        ):
            stream.stop()
            return
        raise AssertionError(f"release never {status} in {timeout}s:\n{self.text()[-3000:]}")

    def interrupt(self, signum: int, group: bool) -> None:
        """Send `signum` like a terminal's Ctrl-C (to the job's process group) or like
        `kill` (to the ansible-playbook process only). A Ctrl-C that lands while Ansible
        forks a worker is lost: its handler's KeyboardInterrupt is raised inside an
        at-fork callback, where CPython prints and ignores it ("Exception ignored in").
        A person presses Ctrl-C again; so does this, once, after 5 s."""
        send = os.killpg if group else os.kill
        send(self.process.pid, signum)
        if signum != signal.SIGINT:
            return
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            print("the first Ctrl-C was lost in a fork; pressing it again")
            send(self.process.pid, signum)

    def wait_for_verify(self, timeout: float = 300) -> None:
        """Wait until verify polls the rollout (the banner of a task is printed only
        with its first result, so wait for the task before it, then into the poll)."""
        self.wait_for(r"TASK \[verify : Note the start of the verification\][^\n]*\nok:", timeout)
        time.sleep(1)

    def finish(self, timeout: float = 600) -> int:
        return self.process.wait(timeout=timeout)


@dataclass
class Target:
    """An isolated place to deploy to: namespace, release, NodePort, database, image
    repository of its own. Playbooks reach it through the inventory's variables."""

    cluster: Cluster
    name: str
    node_port: int
    release: str = "fastapi-app"
    values: dict[str, Any] = field(default_factory=dict)
    started: list[Running] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        """The deployer's kubeconfig (playbooks/deployer.yml): every playbook run of a
        Target uses it, so the whole suite proves the deployer Role is enough."""
        return STATE_DIR / f"deployer-{self.namespace}.kubeconfig"

    @property
    def namespace(self) -> str:
        return f"{TEST_PREFIX}{self.name}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.node_port}"

    @property
    def lock_name(self) -> str:
        return f"{self.release}-deploy-lock"

    def variables(self, values: dict[str, Any] | None = None) -> list[str]:
        # No Ingress unless the test asks: inventory/local routes Host fastapi-app.local,
        # which stays the user's release's.
        own = {"service": {"nodePort": self.node_port}, "ingress": {"enabled": False}}
        chart_values = merged(merged(own, self.values), values or {})
        return [
            "-e",
            json.dumps(
                {
                    "zdk_namespace": self.namespace,
                    "zdk_release": self.release,
                    "zdk_kubeconfig": str(self.kubeconfig),
                    # Pinned like a production inventory: this cluster's CA, this namespace.
                    "zdk_cluster_pin": {
                        "ca_sha256": cluster_ca_sha256(),
                        "namespace": self.namespace,
                    },
                    "zdk_image_repository": TEST_REPOSITORY,
                    "zdk_extra_values": chart_values,
                    # A short analysis window: the tests about it set their own.
                    "zdk_analysis_seconds": 3,
                }
            ),
        ]

    def playbook(
        self,
        path: str,
        *extra: str,
        values: dict[str, Any] | None = None,
        timeout: float = 1200,
        output: str = "full",
    ) -> subprocess.CompletedProcess[str]:
        return run_playbook(path, *self.variables(values), *extra, timeout=timeout, output=output)

    def deploy(
        self,
        version: str,
        *extra: str,
        values: dict[str, Any] | None = None,
        timeout: float = 1200,
        output: str = "full",
    ) -> subprocess.CompletedProcess[str]:
        return self.playbook(
            "deploy.yml",
            "-e",
            f"version={version}",
            *extra,
            values=values,
            timeout=timeout,
            output=output,
        )

    def start(
        self, path: str, *extra: str, values: dict[str, Any] | None = None, log: Path
    ) -> Running:
        """Start a playbook in the background, in a session of its own (like a
        terminal job), so a test can signal it."""
        with log.open("w") as handle:
            process = subprocess.Popen(
                [str(BIN / "ansible-playbook"), path, *self.variables(values), *extra],
                cwd=REPO,
                env=ansible_env(),
                stdout=handle,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        self.started.append(Running(process, log))
        return self.started[-1]

    def stop_started_runs(self) -> None:
        """A suite stopped half-way (Ctrl-C) must not leave a playbook it started running
        in a session of its own: SIGTERM its group, SIGKILL it after 10 s."""
        for run in self.started:
            for signum in (signal.SIGTERM, signal.SIGKILL):
                if run.process.poll() is not None:
                    break
                with suppress(ProcessLookupError):
                    os.killpg(run.process.pid, signum)
                with suppress(subprocess.TimeoutExpired):
                    run.process.wait(timeout=10)

    # ------------------------------------------------------------- reading
    def history(self) -> list[dict[str, Any]]:
        out = self.cluster.helm(
            "history", self.release, "-n", self.namespace, "-o", "json", check=False
        )
        return sorted(json.loads(out or "[]"), key=lambda r: int(r["revision"]))

    def revision(self) -> int:
        history = self.history()
        return int(history[-1]["revision"]) if history else 0

    def status(self) -> str:
        history = self.history()
        return str(history[-1]["status"]) if history else "none"

    def ledger(self) -> dict[str, dict[str, Any]]:
        found = self.cluster.kubectl_run(
            "-n",
            self.namespace,
            "get",
            "configmap",
            f"{self.release}-deploy-ledger",
            "-o",
            "json",
            check=False,
        )
        if found.returncode != 0:
            return {}
        data = json.loads(found.stdout).get("data") or {}
        return {k: json.loads(v) for k, v in data.items()}

    def verdict(self, revision: int) -> str:
        return str(self.ledger().get(str(revision), {}).get("verdict", "unverified"))

    def lease(self) -> dict[str, Any] | None:
        found = self.cluster.kubectl_run(
            "-n", self.namespace, "get", "lease", self.lock_name, "-o", "json", check=False
        )
        return json.loads(found.stdout) if found.returncode == 0 else None

    def wait_lock_free(self, timeout: float = 60) -> float:
        """Seconds until the deploy lock is gone (fails after `timeout`)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.lease() is None:
                return time.monotonic() - started
            time.sleep(0.5)
        raise AssertionError(f"deploy lock still held after {timeout}s: {self.lease()}")

    def pod_versions(self) -> dict[str, str]:
        return serving_versions(self.cluster, self.namespace, self.release)

    def pods(self) -> list[dict[str, Any]]:
        return release_pods(self.cluster, self.namespace, self.release)

    def wait_drained(self, timeout: float = 120) -> float:
        """Wait until no pod of the release is terminating (the old pods have finished
        preStop, drain and graceful shutdown under whatever traffic runs); seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not any(p["metadata"].get("deletionTimestamp") for p in self.pods()):
                return time.monotonic() - started
            time.sleep(1)
        raise AssertionError(f"pods of {self.release} still terminating after {timeout}s")

    def greeting(self) -> str:
        with urllib.request.urlopen(f"{self.url}/endpoint", timeout=5) as response:  # noqa: S310
            return str(json.load(response)["Hello"])


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    require(KUBECONFIG.exists() and KUBECTL.exists(), "no local cluster (run: make cluster-up)")
    found = Cluster(KUBECONFIG, KUBECTL)
    ready = found.kubectl_run("get", "--raw", "/readyz", check=False, timeout=10)
    require(ready.returncode == 0, f"local cluster not answering: {ready.stderr.strip()}")
    return found


@functools.cache
def cluster_ca_sha256() -> str:
    """The local cluster CA's fingerprint, from openssl (not from the kit's own filter);
    read once per session, not for every playbook run of every Target."""
    out = subprocess.run(
        [
            "openssl",
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            str(STATE_DIR / "pki/ca.crt"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return out.strip().split("=", 1)[1]


def remove_deployers(cluster: Cluster, namespaces: list[str]) -> None:
    """The deployers' cluster-scoped objects (their namespaced ones go with the namespace)."""
    names = [f"{DEPLOYER}:{namespace}" for namespace in namespaces]
    if names:
        cluster.kubectl_run(
            "delete", "clusterrolebinding,clusterrole", *names, "--ignore-not-found", check=False
        )


def suite_deployer_namespaces(cluster: Cluster) -> list[str]:
    found = cluster.kubectl_run(
        "get", "clusterroles", "-o", "jsonpath={.items[*].metadata.name}"
    ).stdout.split()
    prefix = f"{DEPLOYER}:{TEST_PREFIX}"
    return [name.removeprefix(f"{DEPLOYER}:") for name in found if name.startswith(prefix)]


def suite_namespaces(cluster: Cluster) -> list[str]:
    found = cluster.kubectl_run(
        "get", "namespaces", "-l", TEST_LABEL, "-o", "jsonpath={.items[*].metadata.name}"
    )
    return found.stdout.split()


def remove_test_databases() -> None:
    # DB_PREFIX is a constant of this file, not input.
    # The suite's databases, and the scratch databases its roles made (N-1 checks).
    names = psql(
        "SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba"  # noqa: S608
        f" WHERE datname LIKE '{DB_PREFIX}%' OR rolname LIKE '{DB_PREFIX}%'"
    ).split()
    roles = psql(f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{DB_PREFIX}%'").split()  # noqa: S608
    for name in names:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for role in roles:
        psql(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture(scope="session")
def test_space(cluster: Cluster) -> Iterator[None]:
    """A clean start: whatever an interrupted earlier run left (namespaces, databases) is
    removed first; what this run made is removed at the end."""
    leftovers = suite_namespaces(cluster)
    if leftovers:
        print(f"removing leftovers of an earlier run: {leftovers}")
        cluster.kubectl_run("delete", "namespace", *leftovers, "--wait=true", timeout=300)
    remove_deployers(cluster, suite_deployer_namespaces(cluster))
    remove_test_databases()
    yield
    made = suite_namespaces(cluster)
    if made:
        cluster.kubectl_run("delete", "namespace", *made, "--wait=true", timeout=300)
    remove_deployers(cluster, suite_deployer_namespaces(cluster))
    remove_test_databases()


@contextmanager
def make_target(cluster: Cluster, name: str, node_port: int, **kwargs: Any) -> Iterator[Target]:
    target = Target(cluster, name, node_port, **kwargs)
    namespace = target.namespace
    database = DB_PREFIX + name.replace("-", "_")
    password = secrets.token_hex(16)
    cluster.kubectl_run("create", "namespace", namespace)
    cluster.kubectl_run("label", "namespace", namespace, f"{TEST_LABEL}=e2e")
    psql(
        f"CREATE ROLE \"{database}\" LOGIN CREATEDB PASSWORD '{password}';\n"
        f'CREATE DATABASE "{database}" OWNER "{database}";\n'
        f'REVOKE CONNECT ON DATABASE "{database}" FROM PUBLIC;\n'
    )
    url = f"postgresql+psycopg://{database}:{password}@{PG_HOST_IN_CLUSTER}:5432/{database}"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "fastapi-app-database", "namespace": namespace},
        "stringData": {"DATABASE_URL": url},
    }
    cluster.kubectl_run("apply", "-f", "-", stdin=json.dumps(secret))
    try:
        made = run_playbook(
            "playbooks/deployer.yml",
            "-e",
            json.dumps({"zdk_namespace": namespace, "zdk_kubeconfig": str(target.kubeconfig)}),
            timeout=300,
        )
        assert made.returncode == 0, (
            f"deployer for {namespace} not made: {flat(made.stdout)[-600:]}"
        )
        yield target
    finally:
        target.stop_started_runs()
        cluster.kubectl_run("delete", "namespace", namespace, "--wait=false", check=False)
        remove_deployers(cluster, [namespace])
        target.kubeconfig.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def user_release(cluster: Cluster, test_space: None) -> dict[str, Any]:
    """What the user's own release looks like before the suite (see test_user_release.py)."""
    from .test_user_release import snapshot_user_release

    return snapshot_user_release(cluster)


# Traefik's web entrypoint in the local cluster (roles/local_cluster: a NodePort).
TRAEFIK_URL = "http://127.0.0.1:30090"


@contextmanager
def probing(
    url: str,
    rate: float = 20,
    health: bool = True,
    path: str = "/endpoint",
    health_path: str = "/health",
    host: str | None = None,
) -> Iterator[dict[str, Report]]:
    """Probe `url` + `path` with keep-alive clients and with a fresh connection per
    request at once, while the block runs; the dict holds both reports ("keepalive",
    "fresh") after it. The keep-alive probe also polls `health_path` for the version
    unless `health` is false. `host` sets the Host header (a route of the ingress
    controller). Each probe is bounded (15 min) and sends only to the given loopback URL."""
    reports: dict[str, Report] = {}
    configs = {
        mode: ProbeConfig(
            url=url,
            path=path,
            health_path=health_path if health and mode == "keepalive" else None,
            rate=rate,
            duration=900,
            mode=mode,
            host_header=host,
        )
        for mode in ("keepalive", "fresh")
    }
    with (
        ProbeInBackground(configs["keepalive"]) as keepalive,
        ProbeInBackground(configs["fresh"]) as fresh,
    ):
        yield reports
        reports["keepalive"] = keepalive.stop()
        reports["fresh"] = fresh.stop()


@contextmanager
def probing_routes(
    url: str, hosts: dict[str, str], rate: float = 20, health: bool = True
) -> Iterator[dict[str, Report]]:
    """`probing` through the NodePort (reports "keepalive", "fresh") and, at the same
    time, through Traefik for each named Host (reports "<name> keepalive", "<name> fresh")."""
    reports: dict[str, Report] = {}
    with ExitStack() as stack:
        direct = stack.enter_context(probing(url, rate=rate, health=health))
        routed = {
            name: stack.enter_context(probing(TRAEFIK_URL, rate=rate, health=health, host=host))
            for name, host in hosts.items()
        }
        yield reports
    reports.update(direct)
    for name, found in routed.items():
        reports.update({f"{name} {mode}": report for mode, report in found.items()})


def wait_routed(host: str, path: str = "/health", timeout: float = 30) -> None:
    """Wait (bounded) until Traefik routes `host` (it applies changes every 2 s)."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(TRAEFIK_URL + path, headers={"Host": host})  # noqa: S310
    while time.monotonic() < deadline:
        with suppress(OSError), urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            if response.status == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"Traefik does not route Host {host} after {timeout}s")


def describe(reports: dict[str, Report]) -> str:
    return "; ".join(f"{mode}: {r.sent} sent, {r.failed} failed" for mode, r in reports.items())


def assert_no_failed_requests(reports: dict[str, Report]) -> None:
    for report in reports.values():
        assert report.failed == 0, report.text_summary()


def podman(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run podman with the repository's private configuration."""
    command = f'source "{REPO}/scripts/podman-env.sh" && podman "$@"'
    return subprocess.run(
        ["bash", "-c", command, "podman", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
