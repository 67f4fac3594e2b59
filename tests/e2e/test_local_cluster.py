"""The local cluster does what the deploy pipeline and its tests rely on.

Builds an image with podman, pushes it to the local registry, runs a 3-replica
Deployment behind a NodePort on 127.0.0.1, restarts it under traffic, resolves a
Service through cluster DNS from a pod and reaches PostgreSQL by its in-cluster
name. Traffic goes only to 127.0.0.1 and to the cluster's own pods.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import textwrap
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from .conftest import REGISTRY, STATE_DIR, TRAEFIK_URL, Cluster, podman, wait_routed

pytestmark = pytest.mark.e2e

NAMESPACE = "zdk-e2e"
NODE_PORT = 30099
PINNED_VERSION = "v1.35.8"
BASE_IMAGE = "localhost/fastapi-zdk/python-base:bookworm"

SERVER = textwrap.dedent(
    """
    import http.server, os, socketserver
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = os.environ.get("HOSTNAME", "?").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer(("", 8080), Handler).serve_forever()
    """
)


@pytest.fixture(scope="module")
def echo_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    context: Path = tmp_path_factory.mktemp("echo-image")
    (context / "server.py").write_text(SERVER)
    (context / "Containerfile").write_text(
        f'FROM {BASE_IMAGE}\nCOPY server.py /server.py\nUSER 65534\nCMD ["python3", "/server.py"]\n'
    )
    image = f"{REGISTRY}/zdk-e2e-echo:{uuid.uuid4().hex[:8]}"
    podman("build", "--network=none", "-q", "-t", image, str(context))
    podman("push", "-q", "--tls-verify=false", image)
    return image


@pytest.fixture(scope="module")
def echo_service(cluster: Cluster, echo_image: str) -> Iterator[str]:
    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "echo", "namespace": NAMESPACE},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "echo"}},
                    "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                    "template": {
                        "metadata": {"labels": {"app": "echo"}},
                        "spec": {
                            "terminationGracePeriodSeconds": 5,
                            "containers": [
                                {
                                    "name": "echo",
                                    "image": echo_image,
                                    "ports": [{"containerPort": 8080}],
                                    "readinessProbe": {
                                        "httpGet": {"path": "/", "port": 8080},
                                        "periodSeconds": 1,
                                    },
                                    "lifecycle": {"preStop": {"sleep": {"seconds": 2}}},
                                }
                            ],
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "echo", "namespace": NAMESPACE},
                "spec": {
                    "type": "NodePort",
                    "selector": {"app": "echo"},
                    "ports": [{"port": 80, "targetPort": 8080, "nodePort": NODE_PORT}],
                },
            },
        ],
    }
    # A namespace left terminating by an earlier run must be gone first.
    cluster.kubectl_run(
        "delete", "namespace", NAMESPACE, "--ignore-not-found", "--timeout=120s", timeout=150
    )
    cluster.kubectl_run("apply", "-f", "-", stdin=json.dumps(manifest))
    cluster.kubectl_run(
        "-n", NAMESPACE, "rollout", "status", "deployment/echo", "--timeout=180s", timeout=200
    )
    url = f"http://127.0.0.1:{NODE_PORT}/"
    # kube-proxy programs a new NodePort within a sync period: wait (bounded) for it.
    deadline = time.monotonic() + 30
    while get(url)[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    yield url
    cluster.kubectl_run("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError as exc:
        return 0, type(exc).__name__


def test_server_reports_the_pinned_version_and_the_node_is_ready(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl_run("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == PINNED_VERSION
    nodes = json.loads(cluster.kubectl_run("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 1
    ready = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}["Ready"]
    assert ready == "True"


def test_nodeport_on_loopback_answers_from_every_replica(echo_service: str) -> None:
    # kube-proxy may take a sync period to add the last endpoint: ask until all
    # three answered, bounded to 300 requests and 30 s.
    pods: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + 30
    while len(pods) < 3 and sum(statuses.values()) < 300 and time.monotonic() < deadline:
        status, body = get(echo_service)
        statuses[status] += 1
        if status == 200:
            pods[body] += 1
        time.sleep(0.05)
    assert set(statuses) == {200}, f"non-200 answers: {dict(statuses)}"
    assert len(pods) == 3, f"expected 3 replicas to answer, got {dict(pods)}"


def test_rollout_restart_completes_while_requests_flow(cluster: Cluster, echo_service: str) -> None:
    results: Counter[int] = Counter()
    stop = threading.Event()

    def load() -> None:  # bounded: 10 requests/s for at most 120 s
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            results[get(echo_service)[0]] += 1
            time.sleep(0.1)

    worker = threading.Thread(target=load)
    worker.start()
    try:
        before = set(pod_names(cluster))
        cluster.kubectl_run("-n", NAMESPACE, "rollout", "restart", "deployment/echo")
        cluster.kubectl_run(
            "-n", NAMESPACE, "rollout", "status", "deployment/echo", "--timeout=180s", timeout=200
        )
    finally:
        stop.set()
        worker.join()
    assert results[200] > 0
    assert not before & set(pod_names(cluster, ready_only=True)), "old pods still serve"


def pod_names(cluster: Cluster, ready_only: bool = False) -> list[str]:
    pods = json.loads(
        cluster.kubectl_run("-n", NAMESPACE, "get", "pods", "-l", "app=echo", "-o", "json").stdout
    )["items"]
    return [
        p["metadata"]["name"]
        for p in pods
        if not ready_only
        or (
            p["metadata"].get("deletionTimestamp") is None
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions", [])
            )
        )
    ]


def exec_python(cluster: Cluster, code: str) -> str:
    pod = pod_names(cluster, ready_only=True)[0]
    return cluster.kubectl_run(
        "-n", NAMESPACE, "exec", pod, "--", "python3", "-c", code, timeout=60
    ).stdout.strip()


def test_cluster_dns_resolves_a_service_from_a_pod(cluster: Cluster, echo_service: str) -> None:
    cluster_ip = cluster.kubectl_run(
        "-n", NAMESPACE, "get", "service", "echo", "-o", "jsonpath={.spec.clusterIP}"
    ).stdout
    resolved = exec_python(
        cluster, f"import socket; print(socket.gethostbyname('echo.{NAMESPACE}.svc.cluster.local'))"
    )
    assert resolved == cluster_ip


def test_pod_reaches_postgresql_by_its_in_cluster_name(cluster: Cluster, echo_service: str) -> None:
    # A PostgreSQL SSLRequest answered with 'S' or 'N' proves the server speaks, by name.
    code = textwrap.dedent(
        """
        import socket, struct
        s = socket.create_connection(("postgresql.platform.svc.cluster.local", 5432), timeout=5)
        s.sendall(struct.pack(">ii", 8, 80877103))
        print(s.recv(1).decode())
        """
    )
    assert exec_python(cluster, code) in {"S", "N"}


def test_app_database_secret_exists(cluster: Cluster) -> None:
    keys = cluster.kubectl_run(
        "-n", "fastapi-app", "get", "secret", "fastapi-app-database", "-o", "jsonpath={.data}"
    ).stdout
    assert "DATABASE_URL" in json.loads(keys)


TRAEFIK = TRAEFIK_URL + "/"


def get_host(url: str, host: str, timeout: float = 2.0) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError as exc:
        return 0, type(exc).__name__


def test_traefik_routes_an_ingress_and_an_httproute_to_their_service(
    cluster: Cluster, echo_service: str
) -> None:
    """The ingress add-on: Traefik on 127.0.0.1:30090 answers an unknown Host with its
    own 404, routes an Ingress (class traefik) and an HTTPRoute (Gateway traefik/traefik)
    by Host to the echo pods, and has accepted the Gateway."""
    assert get_host(TRAEFIK, "unknown.zdk-e2e.local")[0] == 404
    backend = {"service": {"name": "echo", "port": {"number": 80}}}
    routes = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "echo", "namespace": NAMESPACE},
                "spec": {
                    "ingressClassName": "traefik",
                    "rules": [
                        {
                            "host": "ingress.zdk-e2e.local",
                            "http": {
                                "paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]
                            },
                        }
                    ],
                },
            },
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {"name": "echo", "namespace": NAMESPACE},
                "spec": {
                    "parentRefs": [{"name": "traefik", "namespace": "traefik"}],
                    "hostnames": ["gateway.zdk-e2e.local"],
                    "rules": [{"backendRefs": [{"name": "echo", "port": 80}]}],
                },
            },
        ],
    }
    cluster.kubectl_run("apply", "-f", "-", stdin=json.dumps(routes))
    pods = set(pod_names(cluster, ready_only=True))
    for host in ("ingress.zdk-e2e.local", "gateway.zdk-e2e.local"):
        wait_routed(host, path="/")
        answers = Counter(get_host(TRAEFIK, host)[1] for _ in range(30))
        assert set(answers) <= pods, (host, answers, pods)
        assert len(answers) >= 2, f"{host}: one pod took every request: {answers}"
    gateway = cluster.json("-n", "traefik", "get", "gateway", "traefik")
    conditions = {c["type"]: c["status"] for c in gateway["status"]["conditions"]}
    assert conditions.get("Accepted") == "True", conditions


# ------------------------------------------------------------------ lockdown (issue 12)
WILDCARDS = ("0.0.0.0", "*", "[::]", "::")
BRIDGE_IP = "10.244.0.1"


def cluster_processes() -> dict[int, str]:
    """PID -> name of every process the cluster runs on this host: the daemons' pid files,
    PostgreSQL (its postmaster.pid) and all their children (containerd's shims, pods)."""
    state = STATE_DIR
    roots = {int(p.read_text().split()[0]): p.stem for p in (state / "pids").glob("*.pid")}
    postmaster = state / "postgresql/data/postmaster.pid"
    if postmaster.exists():
        roots[int(postmaster.read_text().split()[0])] = "postgresql"
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found = dict(roots)
    for pid in parents:
        chain, seen = pid, 0
        while chain > 1 and seen < 64:
            if chain in roots:
                found[pid] = roots[chain]
                break
            chain, seen = parents.get(chain, 0), seen + 1
    return found


def test_no_cluster_component_listens_on_a_wildcard_address() -> None:
    """kube-apiserver, etcd, kubelet, the registry, PostgreSQL and the rest bind loopback or
    the pod bridge only. `ss` lists every listening socket of this host's network namespace
    with its owner; a socket of a cluster process on 0.0.0.0 or [::] fails."""
    ours = cluster_processes()
    assert {"kube-apiserver", "etcd", "kubelet", "registry", "postgresql"} <= set(ours.values()), (
        ours
    )
    listening = subprocess.run(
        ["ss", "-H", "-l", "-n", "-p", "-t", "-u"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.splitlines()
    seen: dict[str, str] = {}
    for line in listening:
        columns = line.split()
        address = columns[4].rsplit(":", 1)[0].split("%")[0]
        for pid in re.findall(r"pid=(\d+)", line):
            if int(pid) in ours:
                seen[f"{ours[int(pid)]} {columns[4]}"] = address
    assert seen, f"no listening socket of the cluster found in {listening}"
    wild = sorted(name for name, address in seen.items() if address in WILDCARDS)
    assert not wild, f"listening on every interface: {wild}"
    assert {address for address in seen.values()} <= {"127.0.0.1", BRIDGE_IP}, seen


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        (f"https://{BRIDGE_IP}:6443/api/v1/namespaces", False),
        (f"https://{BRIDGE_IP}:6443/version", False),
        (f"https://{BRIDGE_IP}:10250/pods", False),
        (f"https://{BRIDGE_IP}:6443/readyz", True),
        (f"https://{BRIDGE_IP}:6443/livez", True),
    ],
)
def test_anonymous_requests_get_401_except_health(url: str, allowed: bool) -> None:
    """Anonymous auth is off (kube-apiserver's AuthenticationConfiguration, the kubelet's
    config) except for the API server's health endpoints, which probes ask unauthenticated."""
    context = ssl.create_default_context(cafile=str(STATE_DIR / "pki/ca.crt"))
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    assert status == (200 if allowed else 401), url


def test_kubeconfigs_and_keys_are_readable_by_root_only() -> None:
    files = [
        *(STATE_DIR / "pki").iterdir(),
        *(STATE_DIR / "conf").glob("*.kubeconfig"),
        *STATE_DIR.glob("*kubeconfig"),
        STATE_DIR / "postgresql-app-password",
    ]
    loose = [
        f"{p} {p.stat().st_mode & 0o777:o}"
        for p in files
        if p.is_file() and p.stat().st_mode & 0o077
    ]
    assert not loose, loose
    assert (STATE_DIR / "pki").stat().st_mode & 0o077 == 0
