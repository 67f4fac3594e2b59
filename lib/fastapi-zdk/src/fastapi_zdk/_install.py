"""install() for Starlette/FastAPI apps, wrap() for any other ASGI app."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi_zdk.asgi import ASGIApp
from fastapi_zdk.lifecycle import HealthDetails, Lifecycle, WarmUp
from fastapi_zdk.middleware import LifecycleMiddleware
from fastapi_zdk.settings import LifecycleSettings


class StarletteApp(Protocol):
    """What install() uses of a Starlette (or FastAPI) application."""

    @property
    def state(self) -> Any: ...

    @property
    def middleware_stack(self) -> ASGIApp | None: ...

    def build_middleware_stack(self) -> ASGIApp: ...


def install(
    app: StarletteApp,
    settings: LifecycleSettings | None = None,
    *,
    warm_up: WarmUp | None = None,
    health_details: HealthDetails | None = None,
) -> Lifecycle:
    """Give a Starlette/FastAPI app the lifecycle; returns it (also at app.state.lifecycle).

    settings: default LifecycleSettings.from_env() (APP_VERSION, APP_REVISION, POD_NAME,
      APP_WARMUP_SECONDS, APP_DRAIN_SECONDS).
    warm_up: awaited after the app's own start-up; readiness waits for it (and for
      warmup_seconds). If it raises, the process stays not ready.
    health_details: extra fields of GET {health_path}; sync (run in a worker thread) or
      async.

    The middleware becomes the outermost layer, outside Starlette's ServerErrorMiddleware,
    so that the 500 of an unhandled error is counted and carries `Connection: close`
    while draining too.
    """
    if isinstance(getattr(app.state, "lifecycle", None), Lifecycle):
        raise RuntimeError("fastapi_zdk.install(): already installed on this app")
    if app.middleware_stack is not None:
        raise RuntimeError(
            "fastapi_zdk.install(): the app has already started (its middleware stack is"
            " built); call install() right after creating the app"
        )
    lifecycle = Lifecycle(settings, warm_up=warm_up, health_details=health_details)
    build_app_stack = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return LifecycleMiddleware(build_app_stack(), lifecycle)

    # An instance attribute shadows the method (Starlette calls it once, at the first
    # lifespan or request); setattr because type checkers forbid assigning to a method.
    setattr(app, "build_middleware_stack", build_middleware_stack)  # noqa: B010
    app.state.lifecycle = lifecycle
    return lifecycle


def wrap(
    asgi_app: ASGIApp,
    settings: LifecycleSettings | None = None,
    *,
    warm_up: WarmUp | None = None,
    health_details: HealthDetails | None = None,
) -> LifecycleMiddleware:
    """Give any ASGI app the lifecycle: serve the returned middleware instead of the app.
    Its Lifecycle is at `.lifecycle`. Arguments as for install()."""
    return LifecycleMiddleware(
        asgi_app, Lifecycle(settings, warm_up=warm_up, health_details=health_details)
    )
