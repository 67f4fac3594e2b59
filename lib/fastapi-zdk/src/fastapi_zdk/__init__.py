"""fastapi-zdk: readiness, draining and SIGTERM hand-over for one FastAPI/Starlette (or
any ASGI) server process, so that Kubernetes rollouts drop no request.

    from fastapi_zdk import install
    app = FastAPI()
    install(app)
"""

from fastapi_zdk._install import StarletteApp, install, wrap
from fastapi_zdk.defaults import (
    DEFAULT_DRAIN_SECONDS,
    DEFAULT_GRACEFUL_SHUTDOWN_SECONDS,
    DEFAULT_HEALTH_PATH,
    DEFAULT_HOST,
    DEFAULT_KEEPALIVE_SECONDS,
    DEFAULT_PORT,
    DEFAULT_REVISION,
    DEFAULT_VERSION,
    DEFAULT_WARMUP_SECONDS,
    DEFAULT_WORKERS,
    MAX_SECONDS,
    WORKER_HEARTBEAT_SECONDS,
)
from fastapi_zdk.lifecycle import HealthDetails, Lifecycle, Phase, WarmUp
from fastapi_zdk.middleware import LifecycleMiddleware
from fastapi_zdk.settings import LifecycleSettings, LifecycleSettingsError

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_DRAIN_SECONDS",
    "DEFAULT_GRACEFUL_SHUTDOWN_SECONDS",
    "DEFAULT_HEALTH_PATH",
    "DEFAULT_HOST",
    "DEFAULT_KEEPALIVE_SECONDS",
    "DEFAULT_PORT",
    "DEFAULT_REVISION",
    "DEFAULT_VERSION",
    "DEFAULT_WARMUP_SECONDS",
    "DEFAULT_WORKERS",
    "MAX_SECONDS",
    "WORKER_HEARTBEAT_SECONDS",
    "HealthDetails",
    "Lifecycle",
    "LifecycleMiddleware",
    "LifecycleSettings",
    "LifecycleSettingsError",
    "Phase",
    "StarletteApp",
    "WarmUp",
    "__version__",
    "install",
    "wrap",
]
