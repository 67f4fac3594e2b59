"""Cluster access shared by the kit's modules (zdk_lease, zdk_ledger): the same
kubeconfig and context the playbooks give helm and kubectl."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

KUBE_ARGS: dict[str, Any] = {
    "kubeconfig": {"type": "path", "default": None},
    "context": {"type": "str", "default": None},
}


# One client per kubeconfig, context and process. With Mitogen (plugins/strategy) the
# modules of a run share one warm interpreter, and loading a kubeconfig costs more than
# the read it serves; the pid keeps a forked child (the lock's renewer) off the parent's
# connections, and the file's mtime picks up a rewritten kubeconfig.
_CLIENTS: dict[tuple[int, str, str, float], Any] = {}


def api_client(kubeconfig: str | None, context: str | None) -> Any:
    """A kubernetes ApiClient for this kubeconfig/context (environment as fallback:
    K8S_AUTH_KUBECONFIG, KUBECONFIG, K8S_AUTH_CONTEXT, as kubernetes.core does)."""
    from kubernetes import client, config

    path = kubeconfig or os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG") or ""
    context = context or os.environ.get("K8S_AUTH_CONTEXT") or ""
    try:
        mtime = os.stat(os.path.expanduser(path or "~/.kube/config")).st_mtime
    except OSError:
        mtime = 0.0
    key = (os.getpid(), path, context, mtime)
    if key not in _CLIENTS:
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path or None,
            context=context or None,
            client_configuration=configuration,
        )
        # One attempt per call: the modules decide themselves when to try again.
        configuration.retries = 0
        _CLIENTS.clear()
        _CLIENTS[key] = client.ApiClient(configuration)
    return _CLIENTS[key]


def now_micro() -> str:
    """Now as a Kubernetes MicroTime (RFC 3339, microseconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any) -> datetime | None:
    """A Kubernetes time (string or datetime from the client) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def api_status(error: BaseException) -> int:
    """HTTP status of a kubernetes ApiException, 0 for anything else (no answer)."""
    return int(getattr(error, "status", 0) or 0)


def api_reason(error: BaseException) -> str:
    """The API server's message of an ApiException, in one line."""
    import json

    body = getattr(error, "body", None)
    if body:
        try:
            return str(json.loads(body).get("message", body)).splitlines()[0]
        except (ValueError, AttributeError):
            return str(body).splitlines()[0]
    return str(error).splitlines()[0] if str(error) else type(error).__name__
