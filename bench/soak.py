"""Soak: many rollouts under steady load, with a naive control that must fail.

    python -m bench.soak [--cycles 10] [--rate 500] [--requests 1000000] \
        [--json reports/soak.json] [--plot reports/soak.png] [--keep]

Set-up (not under load): namespaces `zdk-soak` (the zero-downtime release, NodePort 30190,
Host soak.zdk.local on Traefik) and `zdk-soak-naive` (the control: naive values, NodePort
30191, Host soak-naive.zdk.local), a PostgreSQL database and Secret each, images in
127.0.0.1:5000/zdk-soak/fastapi-app: good versions 0.0.2 and 0.0.1 and a build that
crashes at start-up, each built once. Then, under steady load through the NodePorts and
through Traefik at once, N cycles of: quiet, deploy.yml to the other good version,
deploy.yml of the crashing build (the kit must roll it back), playbooks/rollback.yml back
to the previous good version, and a bare `helm upgrade` of the control. Cleans up at the
end (--keep leaves everything), and removes what an interrupted run left at the start.
Only talks to 127.0.0.1 and to the cluster's API server. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from zdprobe import ProbeConfig, ProbeInBackground

from bench.local import (
    BIN,
    KUBECONFIG,
    REPO,
    STATE_DIR,
    TOOLS,
    deployer_kubeconfig,
    make_deployer,
    remove_deployer,
    sh,
)
from bench.soak_plot import plot
from bench.soak_stats import (
    FAILURE_CLASSES,
    NAIVE,
    ZDK,
    Accounting,
    Phase,
    by_class,
    dumps,
    merged,
    phase_lines,
    stream_lines,
    verdict,
)

KUBECTL = STATE_DIR / "kubectl"
HELM = TOOLS / "helm"
PG_SOCKET_DIR = "/run/fastapi-zdk/postgresql"
PG_HOST_IN_CLUSTER = "postgresql.platform.svc.cluster.local"
DB_SECRET = "fastapi-app-database"  # noqa: S105 (the name deploy.yml looks up, not a value)
REPOSITORY = "127.0.0.1:5000/zdk-soak/fastapi-app"
TRAEFIK_URL = "http://127.0.0.1:30090"
SOAK_LABEL = "fastapi-zdk.io/soak"
# The good versions alternate; the crashing build keeps one tag (built once, then reused).
GOOD = ("0.0.1", "0.0.2")
BROKEN = "0.0.3-broken"
BROKEN_EDIT = '\nraise SystemExit("deliberately broken release (soak)")\n'
NAIVE_VALUES = REPO / "charts/fastapi-app/ci/naive-values.yaml"
COMMAND_TIMEOUT_S = 900
REQUESTS_PER_CYCLE = 100_000  # the default --requests: 1,000,000 for the default 10 cycles
LOCK_FREE_TIMEOUT_S = 60
DRAIN_TIMEOUT_S = 180
ROLLED_BACK = re.compile(r"rolled back to revision (\d+)")
ROLLBACK_REPORT = re.compile(
    r"rolled back from revision (\d+) \((\S+)\) to revision (\d+) \((\S+)\)"
)
VERIFY_FAILED = re.compile(r"verify failed for \S+ after ([0-9.]+)s")


@dataclass(frozen=True)
class Target:
    """One release of the soak: its namespace (named like the release), NodePort, Host on
    Traefik and database. `key` is ZDK or NAIVE."""

    key: str
    namespace: str
    node_port: int
    host: str
    database: str

    @property
    def release(self) -> str:
        return self.namespace

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.node_port}"


SOAK = Target(ZDK, "zdk-soak", 30190, "soak.zdk.local", "zdk_soak")
CONTROL = Target(NAIVE, "zdk-soak-naive", 30191, "soak-naive.zdk.local", "zdk_soak_naive")
TARGETS = (SOAK, CONTROL)
DB_PREFIX = "zdk_soak"
# NodePorts the e2e tests, the benchmark, molecule and the examples use (never ours).
OTHER_NODE_PORTS = {30080, 30081, 30082, 30085, 30090, 30099, *range(30181, 30187)}

if any(t.node_port in OTHER_NODE_PORTS or not 30190 <= t.node_port <= 30199 for t in TARGETS):
    raise SystemExit("the soak's NodePorts must be its own, in 30190-30199")  # pragma: no cover
if any(not t.namespace.startswith("zdk-soak") for t in TARGETS):
    raise SystemExit("the soak only works in zdk-soak* namespaces")  # pragma: no cover


# --------------------------------------------------------------------------- tools
def kubectl(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return sh([str(KUBECTL), f"--kubeconfig={KUBECONFIG}", *args], **kw)


def helm(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return sh([str(HELM), "--kubeconfig", str(KUBECONFIG), *args], **kw)


def psql(sql: str) -> str:
    """SQL as the local cluster's PostgreSQL superuser (statements on stdin: no password
    ever shows on a command line)."""
    argv = ["runuser", "-u", "postgres", "--", "psql", "-h", PG_SOCKET_DIR, "-p", "5432"]
    argv += ["-v", "ON_ERROR_STOP=1", "-qtAX", "-d", "postgres"]
    return sh(argv, stdin=sql, timeout=60).stdout


def flat(text: str) -> str:
    """Output with every run of white space as one space (Ansible folds long lines)."""
    return " ".join(text.split())


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


# --------------------------------------------------------------------------- checks
def traefik_answers() -> bool:
    """Traefik is up when an unknown Host gets its 404."""
    request = urllib.request.Request(  # noqa: S310 (a constant loopback URL)
        TRAEFIK_URL + "/", headers={"Host": "soak-check.invalid"}
    )
    try:
        with urllib.request.urlopen(request, timeout=3):  # noqa: S310 (loopback)
            return False
    except urllib.error.HTTPError as exc:
        return exc.code == 404
    except OSError:
        return False


def preflight(via: Sequence[str]) -> None:
    for tool in (KUBECTL, HELM, BIN / "ansible-playbook"):
        if not tool.exists():
            raise RuntimeError(f"{tool} not found (make deps, make cluster-up)")
    ready = kubectl("get", "--raw", "/readyz", check=False, timeout=10)
    if ready.returncode != 0:
        raise RuntimeError("the local cluster does not answer (make cluster-up)")
    if "traefik" in via and not traefik_answers():
        raise RuntimeError(
            f"Traefik does not answer on {TRAEFIK_URL} (404 for an unknown Host expected);"
            " --via nodeport runs without it"
        )
    services = json.loads(kubectl("get", "services", "-A", "-o", "json").stdout)["items"]
    ours = {t.namespace for t in TARGETS}
    for svc in services:
        for port in svc["spec"].get("ports", []):
            taken = port.get("nodePort")
            if taken in {t.node_port for t in TARGETS} and svc["metadata"]["namespace"] not in ours:
                meta = svc["metadata"]
                raise RuntimeError(
                    f"NodePort {taken} is taken by {meta['namespace']}/{meta['name']}"
                )


# --------------------------------------------------------------------------- set-up
def remove_everything() -> None:
    """Remove the soak's namespaces, databases and roles (also an interrupted run's)."""
    found = kubectl("get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}").stdout
    leftovers = [t.namespace for t in TARGETS if t.namespace in found.split()]
    if leftovers:
        print(f"removing namespaces {', '.join(leftovers)}", flush=True)
        kubectl("delete", "namespace", *leftovers, "--wait=true", "--timeout=300s", timeout=360)
    for target in TARGETS:
        remove_deployer(target.namespace)
    # DB_PREFIX is a constant of this file, not input. The N-1 checks' scratch databases
    # belong to the soak's roles.
    names = psql(
        "SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba"  # noqa: S608
        f" WHERE datname LIKE '{DB_PREFIX}%' OR rolname LIKE '{DB_PREFIX}%'"
    ).split()
    roles = psql(f"SELECT rolname FROM pg_roles WHERE rolname LIKE '{DB_PREFIX}%'").split()  # noqa: S608
    for name in names:
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for role in roles:
        psql(f'DROP ROLE IF EXISTS "{role}"')
    if names or roles:
        print(f"removed databases {names} and roles {roles}", flush=True)


def make_space(target: Target) -> None:
    """Namespace, database, role and the database Secret deploy.yml looks up."""
    kubectl("create", "namespace", target.namespace)
    kubectl("label", "namespace", target.namespace, f"{SOAK_LABEL}=true")
    make_deployer(target.namespace)
    password = secrets.token_hex(16)
    db = target.database
    psql(
        f"CREATE ROLE \"{db}\" LOGIN CREATEDB PASSWORD '{password}';\n"
        f'CREATE DATABASE "{db}" OWNER "{db}";\n'
        f'REVOKE CONNECT ON DATABASE "{db}" FROM PUBLIC;\n'
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": DB_SECRET, "namespace": target.namespace},
        "stringData": {
            "DATABASE_URL": f"postgresql+psycopg://{db}:{password}@{PG_HOST_IN_CLUSTER}:5432/{db}"
        },
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(secret))


def broken_app(workdir: Path) -> Path:
    """A copy of app/ whose module raises at import: uvicorn exits at start-up. The same
    content every run, so the image (same source hash) is built once and then reused."""
    copy = workdir / "app"
    shutil.copytree(
        REPO / "app", copy, ignore=shutil.ignore_patterns("tests", "bench", "__pycache__")
    )
    main = copy / "fastapi_app/main.py"
    main.write_text(main.read_text() + BROKEN_EDIT)
    return copy


def chart_values(target: Target, via: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = {"service": {"nodePort": target.node_port}}
    if target.key == NAIVE:
        values = merge(yaml.safe_load(NAIVE_VALUES.read_text()), values)
    values["app"] = {"greeting": "Naive-0" if target.key == NAIVE else "Soak"}
    if "traefik" in via:
        values["ingress"] = {
            "enabled": True,
            "className": "traefik",
            "hosts": [{"host": target.host, "paths": [{"path": "/", "pathType": "Prefix"}]}],
        }
        # The local Traefik's idle timeout for pod connections (roles/local_cluster).
        values["proxy"] = {"kind": "traefik", "upstreamIdleTimeoutSeconds": 60}
    return values


# --------------------------------------------------------------------------- the cluster
class Cluster:
    """The soak's view of its two releases; `logs` receives every playbook's output."""

    def __init__(self, via: Sequence[str], logs: Path) -> None:
        self.via = via
        self.logs = logs
        self.commands = 0

    def log(self, label: str, text: str) -> Path:
        self.commands += 1
        path = self.logs / f"{self.commands:03d}-{re.sub(r'[^A-Za-z0-9.]+', '-', label)}.log"
        path.write_text(text)
        return path

    def playbook(
        self, target: Target, path: str, *extra: str, analysis_s: int | None = None
    ) -> tuple[int, str]:
        variables: dict[str, Any] = {
            "zdk_namespace": target.namespace,
            "zdk_release": target.release,
            "zdk_kubeconfig": str(deployer_kubeconfig(target.namespace)),
            "zdk_image_repository": REPOSITORY,
            "zdk_extra_values": chart_values(target, self.via),
        }
        if analysis_s is not None:
            variables["zdk_analysis_seconds"] = analysis_s
        argv = [str(BIN / "ansible-playbook"), path, "-e", json.dumps(variables), *extra]
        try:
            result = sh(argv, check=False, timeout=COMMAND_TIMEOUT_S)
            rc, out = result.returncode, result.stdout + result.stderr
        except subprocess.TimeoutExpired as exc:
            rc, out = -1, f"timed out after {COMMAND_TIMEOUT_S}s: {exc}"
        self.log(f"{target.key}-{Path(path).stem}-{' '.join(extra)[-40:]}", out)
        return rc, out

    def deploy(
        self, target: Target, version: str, *extra: str, analysis_s: int | None = None
    ) -> tuple[int, str]:
        return self.playbook(
            target, "deploy.yml", "-e", f"version={version}", *extra, analysis_s=analysis_s
        )

    # ------------------------------------------------------------- reading
    def history(self, t: Target) -> list[dict[str, Any]]:
        out = helm("history", t.release, "-n", t.namespace, "-o", "json", check=False).stdout
        return sorted(json.loads(out or "[]"), key=lambda r: int(r["revision"]))

    def revision(self, t: Target) -> int:
        history = self.history(t)
        return int(history[-1]["revision"]) if history else 0

    def verdict(self, t: Target, revision: int) -> str:
        found = kubectl(
            "-n", t.namespace, "get", "configmap", f"{t.release}-deploy-ledger", "-o", "json",
            check=False,
        )  # fmt: skip
        if found.returncode != 0:
            return "unverified"
        data = json.loads(found.stdout).get("data") or {}
        entry = json.loads(data.get(str(revision), "{}"))
        return str(entry.get("verdict", "unverified"))

    def lock_free(self, t: Target, timeout: float = LOCK_FREE_TIMEOUT_S) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lease = kubectl(
                "-n", t.namespace, "get", "lease", f"{t.release}-deploy-lock", check=False
            )
            if lease.returncode != 0 and "NotFound" in lease.stderr:
                return True
            time.sleep(0.5)
        return False

    def pods(self, t: Target) -> list[dict[str, Any]]:
        selector = f"app.kubernetes.io/instance={t.release},app.kubernetes.io/component!=migrations"
        out = kubectl("-n", t.namespace, "get", "pods", "-l", selector, "-o", "json").stdout
        return list(json.loads(out)["items"])

    def serving_versions(self, t: Target) -> set[str]:
        """The version every running, not terminating pod reports on /health ("?" when it
        does not answer), read through the API server's pod proxy."""
        versions = set()
        for pod in self.pods(t):
            meta = pod["metadata"]
            if meta.get("deletionTimestamp") or pod["status"].get("phase") != "Running":
                continue
            raw = kubectl(
                "get", "--raw",
                f"/api/v1/namespaces/{t.namespace}/pods/{meta['name']}:8000/proxy/health",
                check=False,
            )  # fmt: skip
            versions.add(json.loads(raw.stdout).get("version", "?") if raw.returncode == 0 else "?")
        return versions

    def drained(self, t: Target, timeout: float = DRAIN_TIMEOUT_S) -> bool:
        """Wait until no pod of the release is terminating (old pods drained under load)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(p["metadata"].get("deletionTimestamp") for p in self.pods(t)):
                return True
            time.sleep(1)
        return False

    def greeting(self, t: Target, tries: int = 10) -> str:
        for _ in range(tries):
            try:
                with urllib.request.urlopen(f"{t.url}/endpoint", timeout=5) as response:  # noqa: S310
                    return str(json.load(response)["Hello"])
            except (OSError, ValueError, KeyError):
                time.sleep(0.5)
        return "?"

    def routed(self, t: Target, timeout: float = 60) -> bool:
        """Wait (bounded) until Traefik routes the target's Host (it applies changes every 2 s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            request = urllib.request.Request(  # noqa: S310 (a constant loopback URL)
                TRAEFIK_URL + "/health", headers={"Host": t.host}
            )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.5)
        return False

    def naive_upgrade(self, greeting: str) -> tuple[int, str]:
        """The control's rollout: bare `helm upgrade --wait` of its own values with only the
        greeting changed (no lock, no checks, no rollback)."""
        got = helm("get", "values", CONTROL.release, "-n", CONTROL.namespace, "-o", "yaml")
        values = yaml.safe_load(got.stdout) or {}
        values.setdefault("app", {})["greeting"] = greeting
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="soak-naive-") as f:
            yaml.safe_dump(values, f)
            f.flush()
            result = helm(
                "upgrade", CONTROL.release, str(REPO / "charts/fastapi-app"),
                "-n", CONTROL.namespace, "--values", f.name, "--wait=watcher",
                "--timeout", "10m", "--history-max", "10",
                check=False, timeout=COMMAND_TIMEOUT_S,
            )  # fmt: skip
        out = result.stdout + result.stderr
        self.log(f"naive-helm-upgrade-{greeting}", out)
        return result.returncode, out


# --------------------------------------------------------------------------- steps
@dataclass
class Outcome:
    """What a step did: its command's exit status, what did not hold, and one line."""

    rc: int
    problems: list[str] = field(default_factory=list)
    detail: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_settled(c: Cluster, o: Outcome, revision: int, version: str, what: str) -> str:
    """The end every step must reach: `revision` verified, every pod serving `version`, the
    deploy lock free. Problems go to `o`; returns the revision's verdict."""
    verdict = c.verdict(SOAK, revision)
    if verdict != "verified":
        o.problems.append(f"{what} {revision} is {verdict}, not verified")
    if (served := c.serving_versions(SOAK)) != {version}:
        o.problems.append(f"pods serve {sorted(served)}, not {version}")
    if not c.lock_free(SOAK):
        o.problems.append("the deploy lock is still held")
    return verdict


def upgrade(c: Cluster, version: str, analysis_s: int | None) -> Outcome:
    """deploy.yml to a good version: it must succeed and be verified, every pod on it."""
    before = c.revision(SOAK)
    rc, out = c.deploy(SOAK, version, analysis_s=analysis_s)
    o = Outcome(rc)
    if not c.drained(SOAK):
        o.problems.append("old pods still terminating")
    now = c.revision(SOAK)
    if rc != 0:
        o.problems.append(f"deploy.yml {version} failed (rc {rc}): {flat(out)[-300:]}")
    if now != before + 1:
        o.problems.append(f"revision {now}, expected {before + 1}")
    verdict = check_settled(c, o, now, version, "revision")
    o.detail = f"revision {before} -> {now} ({version}), {verdict}"
    return o


def crash(c: Cluster, broken_dir: Path, good: str, analysis_s: int | None) -> Outcome:
    """deploy.yml of the crashing build (no preview pod, which would stop it before the
    release): it must fail, and the kit must roll back to the verified revision before it."""
    before = c.revision(SOAK)
    rc, out = c.deploy(
        SOAK, BROKEN, "-e", f"zdk_app_dir={broken_dir}", "-e", "zdk_preview=false",
        analysis_s=analysis_s,
    )  # fmt: skip
    o = Outcome(rc)
    if not c.drained(SOAK):
        o.problems.append("pods still terminating")
    text = flat(out)
    now = c.revision(SOAK)
    back = ROLLED_BACK.search(text)
    decided = VERIFY_FAILED.search(text)
    if rc == 0:
        o.problems.append("the crashing release was deployed without an error")
    if not back or int(back.group(1)) != before:
        o.problems.append(
            f"not rolled back to revision {before}: {back.group(0) if back else text[-300:]}"
        )
    if now != before + 2:
        o.problems.append(f"revision {now}, expected {before + 2} (the release + the rollback)")
    if (v := c.verdict(SOAK, before + 1)) != "failed":
        o.problems.append(f"the crashing revision {before + 1} is {v}, not failed")
    check_settled(c, o, now, good, "the rolled-back revision")
    if decided:
        o.numbers["rollback_decided_after_s"] = float(decided.group(1))
    o.detail = (
        f"revision {before + 1} ({BROKEN}) failed"
        + (f" after {decided.group(1)}s" if decided else "")
        + f", rolled back to {before} ({good}) as {now}"
    )
    return o


def rollback(c: Cluster, expected: str) -> Outcome:
    """playbooks/rollback.yml (no revision): back to the newest verified revision of the
    other version, i.e. the previous good one."""
    before = c.revision(SOAK)
    rc, out = c.playbook(SOAK, "playbooks/rollback.yml")
    o = Outcome(rc)
    if not c.drained(SOAK):
        o.problems.append("old pods still terminating")
    text = flat(out)
    now = c.revision(SOAK)
    report = ROLLBACK_REPORT.search(text)
    if rc != 0:
        o.problems.append(f"rollback.yml failed (rc {rc}): {text[-300:]}")
    if report is None or report.group(4) != expected:
        o.problems.append(f"rollback.yml did not go to {expected}: {text[-300:]}")
    if now != before + 1:
        o.problems.append(f"revision {now}, expected {before + 1}")
    verdict = check_settled(c, o, now, expected, "revision")
    target = f"revision {report.group(3)}" if report else "?"
    o.detail = f"revision {before} -> {target} ({expected}) as {now}, {verdict}"
    return o


def control_upgrade(c: Cluster, cycle: int) -> Outcome:
    greeting = f"Naive-{cycle}"
    rc, out = c.naive_upgrade(greeting)
    o = Outcome(rc)
    if not c.drained(CONTROL):
        o.problems.append("the control's old pods still terminating")
    if rc != 0:
        o.problems.append(f"helm upgrade of the control failed (rc {rc}): {flat(out)[-300:]}")
    if (said := c.greeting(CONTROL)) != greeting:
        o.problems.append(f"the control says {said!r}, not {greeting!r}: it did not roll")
    o.detail = f"helm upgrade --wait, greeting {greeting}"
    return o


# --------------------------------------------------------------------------- load
@dataclass(frozen=True)
class Stream:
    name: str
    release: str  # ZDK | NAIVE
    via: str  # nodeport | traefik
    mode: str  # keepalive | fresh
    url: str
    host: str | None
    rate: float


def make_streams(via: Sequence[str], rate: float, naive_rate: float) -> list[Stream]:
    """The zero-downtime release gets keep-alive and fresh-connection probes on every route,
    sharing rate - naive_rate; the control a keep-alive probe on every route, sharing
    naive_rate."""
    zdk = [(v, m) for v in via for m in ("keepalive", "fresh")]
    naive = [(v, "keepalive") for v in via]
    streams = []
    for target, pairs, total in ((SOAK, zdk, rate - naive_rate), (CONTROL, naive, naive_rate)):
        for v, mode in pairs:
            streams.append(
                Stream(
                    name=f"{target.key} {v} {mode}",
                    release=target.key,
                    via=v,
                    mode=mode,
                    url=target.url if v == "nodeport" else TRAEFIK_URL,
                    host=None if v == "nodeport" else target.host,
                    rate=round(total / len(pairs), 3),
                )
            )
    return streams


class Load:
    """Every stream's probe, always running. A probe keeps each request in memory, so each
    stream's probe is replaced every `segment_s` (and at every phase boundary): the next
    one starts, then the previous one stops and its requests are folded into the
    accounting. Each probe is bounded by its own duration as well."""

    def __init__(
        self,
        streams: Sequence[Stream],
        accounting: Accounting,
        segment_s: float,
        concurrency: int,
        timeout: float,
    ) -> None:
        self.streams = list(streams)
        self.accounting = accounting
        self.segment_s = segment_s
        self.concurrency = concurrency
        self.timeout = timeout
        self.errors: list[str] = []
        self.segments = 0
        self._lock = threading.Lock()
        self._probes: dict[str, ProbeInBackground] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._rotate_loop, name="soak-load", daemon=True)

    def config(self, s: Stream) -> ProbeConfig:
        return ProbeConfig(
            url=s.url,
            path="/endpoint",
            rate=s.rate,
            # A probe ends by itself even if nothing replaces it.
            duration=self.segment_s * 4 + 60,
            mode=s.mode,
            concurrency=self.concurrency,
            timeout=self.timeout,
            host_header=s.host,
        )

    def _launch(self) -> dict[str, ProbeInBackground]:
        probes = {}
        for s in self.streams:
            probe = ProbeInBackground(self.config(s))
            probe.__enter__()
            probes[s.name] = probe
        return probes

    def _collect(self, probes: dict[str, ProbeInBackground]) -> None:
        for name, probe in probes.items():
            try:
                report = probe.stop()
            except RuntimeError as exc:
                self.errors.append(f"{name}: {exc} ({exc.__cause__!r})")
                continue
            self.accounting.fold(name, report.started_at, report.results, report.unsent)
        self.segments += 1

    def start(self) -> None:
        with self._lock:
            self._probes = self._launch()
        self._thread.start()

    def rotate(self) -> None:
        with self._lock:
            if not self._probes:
                return
            boundary = time.time()
            old, self._probes = self._probes, self._launch()
            self._collect(old)
            self.accounting.finalize(boundary)

    def _rotate_loop(self) -> None:
        while not self._stop.wait(self.segment_s):
            self.rotate()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            old, self._probes = self._probes, {}
            self._collect(old)
            self.accounting.finalize(None)

    def begin(self, kind: str, label: str, cycle: int) -> Phase:
        with self._lock:
            return self.accounting.timeline.begin(kind, label, cycle, time.time())

    def totals(self, release: str | None = None) -> tuple[int, int]:
        with self._lock:
            return self.accounting.totals(release)


# --------------------------------------------------------------------------- the run
class Soak:
    def __init__(self, args: argparse.Namespace, cluster: Cluster, load: Load) -> None:
        self.args = args
        self.c = cluster
        self.load = load
        self.step_problems: list[str] = []
        self.cycles_done = 0
        self.control_rollouts = 0
        self.t0 = load.accounting.t0
        self.numbers: list[dict[str, Any]] = []

    def progress(self, line: str) -> None:
        sent, _ = self.load.totals()
        _, zdk_failed = self.load.totals(ZDK)
        _, naive_failed = self.load.totals(NAIVE)
        print(
            f"[{time.time() - self.t0:7.1f}s] {line}; so far {sent:,} requests, "
            f"zero-downtime {zdk_failed} failed, control {naive_failed} failed",
            flush=True,
        )

    def phase(self, kind: str, label: str, cycle: int, step: Callable[[], Outcome]) -> Outcome:
        phase = self.load.begin(kind, label, cycle)
        started = time.monotonic()
        try:
            outcome = step()
        except Exception as exc:  # a step that broke is a failed step, reported as such
            outcome = Outcome(-1, [f"{type(exc).__name__}: {exc}"])
        self.load.rotate()  # the running totals below include this phase
        phase.rc, phase.ok = outcome.rc, outcome.ok
        phase.detail = "; ".join([outcome.detail, *outcome.problems]).strip("; ")
        if outcome.numbers:
            self.numbers.append({"phase": phase.index, "cycle": cycle, **outcome.numbers})
        self.step_problems += [f"cycle {cycle} {label}: {p}" for p in outcome.problems]
        self.progress(
            f"cycle {cycle}/{self.args.cycles} {label}: "
            f"{'ok' if outcome.ok else 'FAILED'} (rc {outcome.rc}) "
            f"in {time.monotonic() - started:.1f}s, {phase.detail}"
        )
        return outcome

    def quiet(self, cycle: int, seconds: float) -> Outcome:
        self.load.begin("quiet", "quiet", cycle)
        time.sleep(seconds)
        self.load.rotate()
        self.progress(f"cycle {cycle}/{self.args.cycles} quiet {seconds:.0f}s")
        return Outcome(0)

    def cycles(self, broken_dir: Path) -> bool:
        """Run the cycles; False when one step did not hold (the rest would mean nothing)."""
        a = self.args
        serving = GOOD[0]
        longest = 0.0
        for cycle in range(1, a.cycles + 1):
            if time.time() - self.t0 + max(longest, 120.0) > a.budget:
                print(f"budget of {a.budget:.0f}s reached: stopping after {cycle - 1} cycles")
                return True
            started = time.monotonic()
            other = GOOD[1] if serving == GOOD[0] else GOOD[0]
            self.quiet(cycle, a.quiet_seconds)
            steps: list[tuple[str, str, Callable[[], Outcome]]] = [
                ("upgrade", f"upgrade {serving}->{other}",
                 partial(upgrade, self.c, other, a.analysis_seconds)),
                ("crash", f"crash {BROKEN}",
                 partial(crash, self.c, broken_dir, other, a.analysis_seconds)),
                ("rollback", f"rollback.yml ->{serving}", partial(rollback, self.c, serving)),
                ("naive-upgrade", "control helm upgrade", partial(control_upgrade, self.c, cycle)),
            ]  # fmt: skip
            for kind, label, step in steps:
                outcome = self.phase(kind, label, cycle, step)
                if kind == "naive-upgrade" and outcome.rc == 0:
                    self.control_rollouts += 1
                if not outcome.ok:
                    return False
            self.cycles_done = cycle
            longest = max(longest, time.monotonic() - started)
        return True

    def settle(self) -> None:
        """Keep the load on after the last cycle until the requested total is reached (and
        at least one quiet window), bounded by the budget."""
        a = self.args
        self.load.begin("settle", "settle", 0)
        started = time.time()
        sent, _ = self.load.totals()
        missing = max(0, a.requests - sent)
        wanted = max(a.quiet_seconds, missing / a.rate * 1.05 + 5)
        deadline = started + min(
            wanted * 1.5 + 30, max(a.quiet_seconds, a.budget - (started - self.t0))
        )
        while time.time() < deadline:
            time.sleep(min(10.0, max(0.0, deadline - time.time())))
            self.load.rotate()
            sent, _ = self.load.totals()
            if sent >= a.requests and time.time() - started >= a.quiet_seconds:
                break
        self.progress(f"settle {time.time() - started:.0f}s")


def setup(c: Cluster, broken_dir: Path, via: Sequence[str]) -> list[dict[str, Any]]:
    """Not under load: both good versions and the crashing build built once each; the
    release ends on GOOD[0] with GOOD[1] verified before it; the control on GOOD[0]."""
    done: list[dict[str, Any]] = []

    def step(what: str, target: Target, version: str, *extra: str, expect_ok: bool = True) -> None:
        started = time.monotonic()
        rc, out = c.deploy(target, version, *extra, analysis_s=0)
        seconds = round(time.monotonic() - started, 1)
        done.append({"step": what, "rc": rc, "seconds": seconds})
        print(f"set-up: {what}: rc {rc} in {seconds}s", flush=True)
        if (rc == 0) != expect_ok:
            print(flat(out)[-3000:], file=sys.stderr)
            raise RuntimeError(f"set-up step failed: {what} (rc {rc})")

    step(f"deploy {GOOD[1]} (image built once)", SOAK, GOOD[1])
    step(f"deploy {GOOD[0]} (image built once)", SOAK, GOOD[0])
    step(
        f"deploy {BROKEN} (image built once; must fail and roll back)", SOAK, BROKEN,
        "-e", f"zdk_app_dir={broken_dir}", "-e", "zdk_preview=false", expect_ok=False,
    )  # fmt: skip
    step(f"control: deploy {GOOD[0]} with naive values", CONTROL, GOOD[0])
    if c.serving_versions(SOAK) != {GOOD[0]}:
        raise RuntimeError(f"after set-up {SOAK.release} does not serve {GOOD[0]}")
    if "traefik" in via:
        for t in TARGETS:
            if not c.routed(t):
                raise RuntimeError(f"Traefik does not route Host {t.host} after 60s")
    return done


def release_latency(acct: Accounting, release: str) -> dict[str, Any]:
    """p50/p99 over all of a release's streams: quiet phases vs its own rollouts."""
    chosen = [s for s in acct.streams.values() if s.release == release]
    out = {}
    for window, phases in (
        ("quiet", acct.quiet_phases()),
        ("rolling", acct.rolling_phases(release)),
    ):
        h = merged(s.phases[i].latency for s in chosen for i in phases if i in s.phases)
        out[window] = {"count": h.count, "p50_ms": h.percentile(50), "p99_ms": h.percentile(99)}
    return out


def document(
    args: argparse.Namespace,
    *,
    streams: Sequence[Stream],
    acct: Accounting,
    soak: Soak | None,
    setup_steps: list[dict[str, Any]],
    started_at: str,
    began: float,
    setup_s: float,
    load: Load | None,
    problems: list[str],
    interrupted: bool,
) -> dict[str, Any]:
    summary = acct.stream_summary()
    sent, failed = acct.totals()
    zdk_sent, zdk_failed = acct.totals(ZDK)
    naive_sent, naive_failed = acct.totals(NAIVE)
    by_phase = [
        {"stream": f.stream, "at_s": f.at_s, "phase": f.phase, "outcome": f.outcome,
         "class": f.failure_class, "latency_ms": f.latency_ms}
        for f in acct.failures
    ]  # fmt: skip
    outcomes: Counter[str] = Counter()
    for s in acct.streams.values():
        outcomes.update(s.outcomes)
    return {
        "benchmark": "soak",
        "started_at": started_at,
        "elapsed_s": round(time.monotonic() - began, 1),
        "setup_s": setup_s,
        "load_s": round((acct.timeline.phases[-1].end or time.time()) - acct.t0, 1)
        if acct.timeline.phases
        else 0,
        "passed": not problems,
        "problems": problems,
        "settings": {
            "cycles": args.cycles,
            "cycles_done": soak.cycles_done if soak else 0,
            "control_rollouts": soak.control_rollouts if soak else 0,
            "rate": args.rate,
            "naive_rate": args.naive_rate,
            "requests_target": args.requests,
            "quiet_seconds": args.quiet_seconds,
            "analysis_seconds": args.analysis_seconds,
            "budget_s": args.budget,
            "segment_seconds": args.segment_seconds,
            "concurrency": args.concurrency,
            "timeout_s": args.timeout,
            "via": list(args.via),
            "traefik_url": TRAEFIK_URL if "traefik" in args.via else None,
            "good_versions": list(GOOD),
            "broken_version": BROKEN,
            "image_repository": REPOSITORY,
            "releases": {
                t.key: {
                    "namespace": t.namespace,
                    "release": t.release,
                    "node_port": t.node_port,
                    "host": t.host,
                    "database": t.database,
                }
                for t in TARGETS
            },
            "streams": [dataclasses.asdict(s) for s in streams],
            "interrupted": interrupted,
        },
        "setup": setup_steps,
        "totals": {
            "sent": sent,
            "failed": failed,
            "zdk_sent": zdk_sent,
            "zdk_failed": zdk_failed,
            "naive_sent": naive_sent,
            "naive_failed": naive_failed,
            "unsent": sum(s["unsent"] for s in summary.values()),
            "probe_segments": load.segments if load else 0,
            "probe_errors": load.errors if load else [],
        },
        "latency": {ZDK: release_latency(acct, ZDK), NAIVE: release_latency(acct, NAIVE)},
        "streams": summary,
        "phases": acct.phase_table(),
        "step_numbers": soak.numbers if soak else [],
        "failures": {
            "by_class": dict(by_class(outcomes).most_common()),
            "classes": {
                o: list(FAILURE_CLASSES[o]) for o in sorted(outcomes) if o in FAILURE_CLASSES
            },
            "items": by_phase,
            "items_dropped": acct.failures_dropped,
        },
        "seconds": acct.seconds_table(),
    }


def clean_up() -> None:
    print("clean-up: namespaces, databases and roles of the soak", flush=True)
    try:
        remove_everything()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"clean-up incomplete: {exc}", file=sys.stderr)


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same orderly end as Ctrl-C: report, then clean up


def parse(argv: list[str] | None) -> argparse.Namespace:
    assert __doc__ is not None
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument(
        "--cycles", type=int, default=10, help="upgrade/crash/rollback cycles (default 10)"
    )
    parser.add_argument(
        "--rate", type=float, default=500.0, help="requests/s of all streams together (default 500)"
    )
    parser.add_argument(
        "--naive-rate", type=float, default=50.0, help="the control's share of --rate (default 50)"
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="requests the run must send in all (default: 100000 per cycle, 1000000 for 10): "
        "the load goes on after the last cycle until they are sent (within --budget); "
        "fewer is a failure",
    )
    parser.add_argument(
        "--quiet-seconds",
        type=float,
        default=20.0,
        help="quiet window before each cycle (default 20 s)",
    )
    parser.add_argument(
        "--analysis-seconds",
        type=int,
        default=None,
        help="deploy.yml's analysis window (default: the inventory's)",
    )
    parser.add_argument(
        "--via",
        type=lambda v: [x for x in v.split(",") if x],
        default=["nodeport", "traefik"],
        help="routes to probe, comma-separated (default nodeport,traefik: the NodePorts, "
        "and Traefik on 127.0.0.1:30090 by Host header)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=3600.0,
        help="no cycle starts after this many seconds of load (default 3600)",
    )
    parser.add_argument(
        "--segment-seconds",
        type=float,
        default=30.0,
        help="a probe is replaced after this (default 30 s)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="requests in flight per stream (default 16)"
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="per-request timeout (default 5 s)"
    )
    parser.add_argument("--json", type=Path, default=REPO / "reports/soak.json")
    parser.add_argument("--plot", type=Path, default=REPO / "reports/soak.png")
    parser.add_argument("--keep", action="store_true", help="leave namespaces and databases")
    args = parser.parse_args(argv)
    if args.requests is None:
        args.requests = REQUESTS_PER_CYCLE * args.cycles
    if not 1 <= args.cycles <= 50:
        parser.error("--cycles must be 1..50")
    if not 0 < args.naive_rate < args.rate <= 2000:
        parser.error("--naive-rate must be above 0 and below --rate, and --rate at most 2000")
    if not 60 <= args.budget <= 7200 or not 5 <= args.segment_seconds <= 300:
        parser.error("--budget must be 60..7200 and --segment-seconds 5..300")
    if not 0 <= args.requests <= 5_000_000 or args.quiet_seconds < 1:
        parser.error("--requests must be 0..5000000 and --quiet-seconds at least 1")
    if not args.via or any(v not in ("nodeport", "traefik") for v in args.via):
        parser.error("--via takes nodeport and/or traefik")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    logs = args.json.parent / "soak-logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    signal.signal(signal.SIGTERM, on_sigterm)

    began = time.monotonic()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    streams = make_streams(args.via, args.rate, args.naive_rate)
    cluster = Cluster(args.via, logs)
    acct = Accounting(time.time(), [(s.name, s.release) for s in streams])
    load: Load | None = None
    soak: Soak | None = None
    setup_steps: list[dict[str, Any]] = []
    setup_s = 0.0
    problems: list[str] = []
    interrupted = False
    workdir = Path(tempfile.mkdtemp(prefix="zdk-soak-"))
    try:
        preflight(args.via)
    except RuntimeError as exc:  # nothing has changed yet: one line, no report
        print(f"soak: {exc}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
        return 2
    try:
        remove_everything()
        for t in TARGETS:
            make_space(t)
        broken_dir = broken_app(workdir)
        setup_steps = setup(cluster, broken_dir, args.via)
        setup_s = round(time.monotonic() - began, 1)
        print(f"set-up done in {setup_s}s; load: {args.rate:g} req/s over", flush=True)
        for s in streams:
            print(f"  {s.name:<26} {s.rate:>8g}/s  {s.url} {s.host or ''}", flush=True)

        acct = Accounting(time.time(), [(s.name, s.release) for s in streams])
        load = Load(streams, acct, args.segment_seconds, args.concurrency, args.timeout)
        soak = Soak(args, cluster, load)
        load.start()
        try:
            soak.cycles(broken_dir)
            soak.settle()
        finally:
            load.stop()
            acct.timeline.close(time.time())
        problems = verdict(
            acct.stream_summary(),
            target_requests=args.requests,
            step_problems=soak.step_problems,
            control_rollouts=soak.control_rollouts,
        )
        problems += [f"probe: {e}" for e in load.errors]
    except KeyboardInterrupt:
        interrupted = True
        problems.append("interrupted")
    except Exception as exc:  # reported like any other failure, after the clean-up
        problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep:
            clean_up()

    doc = document(
        args, streams=streams, acct=acct, soak=soak, setup_steps=setup_steps,
        started_at=started_at, began=began, setup_s=setup_s, load=load,
        problems=problems, interrupted=interrupted,
    )  # fmt: skip
    args.json.write_text(dumps(doc) + "\n")
    print()
    print("\n".join(phase_lines(doc["phases"], {s.name: s.release for s in streams})))
    print()
    print("\n".join(stream_lines(doc["streams"])))
    lat = doc["latency"]
    for key, name in ((ZDK, "zero-downtime"), (NAIVE, "control")):
        q, r = lat[key]["quiet"], lat[key]["rolling"]
        print(
            f"{name}: p50/p99 quiet {q['p50_ms']}/{q['p99_ms']} ms, "
            f"during its rollouts {r['p50_ms']}/{r['p99_ms']} ms"
        )
    t = doc["totals"]
    print(
        f"\n{t['sent']:,} requests in {doc['load_s']}s of load "
        f"(zero-downtime {t['zdk_failed']}/{t['zdk_sent']} failed, "
        f"control {t['naive_failed']}/{t['naive_sent']} failed)"
    )
    print(f"report: {args.json}")
    if doc["seconds"]["length"]:
        plot(doc, args.plot)
        print(f"plot: {args.plot}")
    print(f"playbook logs: {logs}")
    if problems:
        print("SOAK FAILED:\n  " + "\n  ".join(problems[:50]))
        return 1
    print("SOAK PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
