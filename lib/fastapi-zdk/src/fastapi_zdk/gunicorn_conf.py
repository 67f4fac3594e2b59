"""gunicorn settings for an app with the lifecycle, one uvicorn worker per process:

    gunicorn -c python:fastapi_zdk.gunicorn_conf main:app

(needs `pip install fastapi-zdk[gunicorn]`: gunicorn and uvicorn-worker). From the
environment, with the names uvicorn reads: UVICORN_HOST (0.0.0.0) and UVICORN_PORT
(8000) to bind, WEB_CONCURRENCY (2 workers),
UVICORN_TIMEOUT_KEEP_ALIVE (75 s), APP_DRAIN_SECONDS (5) and
UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN (20): the master forwards SIGTERM to the workers and
kills those still running after graceful_timeout, so graceful_timeout covers the drain
plus the graceful window. An invalid value stops gunicorn with one line.

Command-line options override these settings (gunicorn applies them last).
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping

from fastapi_zdk.defaults import (
    DEFAULT_DRAIN_SECONDS,
    DEFAULT_GRACEFUL_SHUTDOWN_SECONDS,
    DEFAULT_HOST,
    DEFAULT_KEEPALIVE_SECONDS,
    DEFAULT_PORT,
    DEFAULT_WORKERS,
    MAX_SECONDS,
    WORKER_HEARTBEAT_SECONDS,
)
from fastapi_zdk.settings import LifecycleSettingsError, parse_seconds


def _integer(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name) or None
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise LifecycleSettingsError(name, f"must be an integer between {low} and {high}", raw)
    return value


def _host(environ: Mapping[str, str]) -> str:
    raw = environ.get("UVICORN_HOST") or None
    if raw is None:
        return DEFAULT_HOST
    host = raw.strip()
    if not re.fullmatch(r"[A-Za-z0-9.:_-]{1,253}", host):
        raise LifecycleSettingsError("UVICORN_HOST", "must be a host name or an IP address", raw)
    return f"[{host}]" if ":" in host else host  # IPv6 in brackets


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name) or None
    return default if raw is None else parse_seconds(name, raw)


def settings_from_env(environ: Mapping[str, str]) -> dict[str, object]:
    """gunicorn's settings by name; LifecycleSettingsError (one line) if a value is invalid."""
    port = _integer(environ, "UVICORN_PORT", DEFAULT_PORT, 1, 65535)
    drain = _seconds(environ, "APP_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS)
    graceful = _seconds(
        environ, "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN", DEFAULT_GRACEFUL_SHUTDOWN_SECONDS
    )
    return {
        "worker_class": "uvicorn_worker.UvicornWorker",
        "bind": [f"{_host(environ)}:{port}"],
        "workers": _integer(environ, "WEB_CONCURRENCY", DEFAULT_WORKERS, 1, 1024),
        "keepalive": _integer(
            environ, "UVICORN_TIMEOUT_KEEP_ALIVE", DEFAULT_KEEPALIVE_SECONDS, 0, MAX_SECONDS
        ),
        # gunicorn wants whole seconds; round up so that the drain is never cut short.
        "graceful_timeout": math.ceil(drain + graceful),
        "timeout": WORKER_HEARTBEAT_SECONDS,
        "accesslog": None,
        "errorlog": "-",
        # gunicorn >= 25.1 opens a control socket under $HOME: a container's home is
        # read-only, and signals are how Kubernetes manages the process anyway.
        "control_socket_disable": True,
    }


try:
    _settings = settings_from_env(os.environ)
except LifecycleSettingsError as _error:
    sys.exit(f"fastapi_zdk.gunicorn_conf: {_error}")

# The names gunicorn reads from a configuration module.
worker_class = _settings["worker_class"]
bind = _settings["bind"]
workers = _settings["workers"]
keepalive = _settings["keepalive"]
graceful_timeout = _settings["graceful_timeout"]
timeout = _settings["timeout"]
accesslog = _settings["accesslog"]
errorlog = _settings["errorlog"]
control_socket_disable = _settings["control_socket_disable"]
