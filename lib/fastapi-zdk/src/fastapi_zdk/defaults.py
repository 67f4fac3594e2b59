"""Every default of the package in one place, so that a deployment (the Helm chart, the
Dockerfile's server command) can be tested against them."""

from __future__ import annotations

# Lifecycle (LifecycleSettings and its environment variables).
DEFAULT_VERSION = "unknown"  # APP_VERSION
DEFAULT_REVISION = "unknown"  # APP_REVISION
DEFAULT_WARMUP_SECONDS = 0  # APP_WARMUP_SECONDS: readiness 503 at least this long
DEFAULT_DRAIN_SECONDS = 5  # APP_DRAIN_SECONDS: after SIGTERM, before the server stops
MAX_SECONDS = 3600  # upper bound of every duration setting
DEFAULT_HEALTH_PATH = "/health"  # and /health/live, /health/ready

# Server (fastapi_zdk.gunicorn_conf; the same values suit a plain uvicorn command).
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - UVICORN_HOST: a container serves on every interface
DEFAULT_PORT = 8000  # UVICORN_PORT
DEFAULT_WORKERS = 2  # WEB_CONCURRENCY
DEFAULT_KEEPALIVE_SECONDS = 75  # UVICORN_TIMEOUT_KEEP_ALIVE: above a load balancer's idle timeout
DEFAULT_GRACEFUL_SHUTDOWN_SECONDS = 20  # UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN
WORKER_HEARTBEAT_SECONDS = 30  # gunicorn `timeout`
