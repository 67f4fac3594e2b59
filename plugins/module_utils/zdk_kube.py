"""Cluster access shared by the kit's modules (zdk_lease, zdk_ledger, zdk_checks): the
same kubeconfig and context the playbooks give helm and kubectl, and raw API requests."""

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


class ApiAnswerError(Exception):
    """A non-2xx answer of raw_call that its caller does not expect; like the client's
    ApiException it carries status and body, so api_status and api_reason read it."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


def raw_call(
    api: Any, method: str, resource: str, query: list[tuple[str, str]] | None = None,
    body: Any = None, timeout: float = 10, content_type: str = "application/json",
) -> tuple[int, bytes]:  # fmt: skip
    """(status, body) of one API request; a non-2xx answer is an answer, not an error.
    Both kubernetes client generations: param_serialize + call_api (v32 and later), and
    the older call_api(resource_path, ...). Cheaper than the typed APIs: the first use of
    client.CoreV1Api imports a module of 0.3 s (kubernetes 37 on 2 vCPUs)."""
    from kubernetes.client.exceptions import ApiException

    headers = {"Accept": "*/*"}
    if body is not None:
        headers["Content-Type"] = content_type
    try:
        if hasattr(api, "param_serialize"):
            verb, url, headers, payload, post = api.param_serialize(
                method=method, resource_path=resource, query_params=query or [],
                header_params=headers, body=body, auth_settings=["BearerToken"],
            )  # fmt: skip
            response = api.call_api(
                verb, url, header_params=headers, body=payload, post_params=post,
                _request_timeout=timeout,
            )  # fmt: skip
            response.read()
            return int(response.status), bytes(response.data or b"")
        raw = api.call_api(
            resource, method, query_params=query or [], header_params=headers, body=body,
            auth_settings=["BearerToken"], _preload_content=False, _request_timeout=timeout,
        )  # fmt: skip
        raw = raw[0] if isinstance(raw, tuple) else raw
        return int(raw.status), bytes(raw.data or b"")
    except ApiException as error:
        data = error.body if isinstance(error.body, bytes) else str(error.body or "").encode()
        return int(error.status or 0), data


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
