"""App factory and the ASGI app uvicorn serves: `uvicorn fastapi_app.main:app`.

Resources live in the lifespan (engine, warm-up, SIGTERM chaining); migrations never
run here (`alembic upgrade head` is a separate step before the rollout).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from starlette.types import ASGIApp

from fastapi_app.api.main import api_router
from fastapi_app.api.routes.health import RevisionCache
from fastapi_app.core.config import Settings, SettingsError, load_settings
from fastapi_app.core.db import create_db_engine
from fastapi_app.core.lifecycle import Lifecycle, LifecycleMiddleware
from fastapi_app.core.logs import get_logger, one_line
from fastapi_app.core.metrics import Metrics

log = get_logger()


class App(FastAPI):
    """FastAPI whose outermost layer is the lifecycle middleware (when enabled), outside
    even Starlette's ServerErrorMiddleware, so that an unhandled error's 500 is counted
    and carries `Connection: close` while draining too."""

    lifecycle_middleware = True

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.lifecycle_middleware:
            return LifecycleMiddleware(stack, self.state.lifecycle)
        return stack


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    lifecycle: Lifecycle = app.state.lifecycle
    engine = create_db_engine(settings.database_url)
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker(engine, expire_on_commit=False)
    await lifecycle.start(engine)
    try:
        yield
    finally:
        await lifecycle.stop()
        engine.dispose()


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database error on %s %s: %s", request.method, request.url.path, one_line(exc))
    return JSONResponse(
        status_code=503,
        content={"detail": "database unavailable or schema not migrated (alembic upgrade head)"},
    )


def create_app(settings: Settings | None = None, *, lifecycle_middleware: bool = True) -> App:
    """Build the app. Without `settings`, read them from the environment."""
    settings = settings if settings is not None else load_settings()
    app = App(
        title="fastapi-app",
        summary="Sample service of the zero-downtime deploy kit",
        version=settings.version,
        lifespan=lifespan,
    )
    app.lifecycle_middleware = lifecycle_middleware
    lifecycle = Lifecycle(settings)
    app.state.settings = settings
    app.state.lifecycle = lifecycle
    app.state.metrics = Metrics(lifecycle, settings.version, settings.app_revision)
    app.state.revision_cache = RevisionCache()
    app.include_router(api_router)
    app.add_exception_handler(SQLAlchemyError, database_error)
    return app


def _app_or_exit(**kwargs: Any) -> App:
    try:
        return create_app(**kwargs)
    except SettingsError as exc:
        # One line naming the setting, no traceback; uvicorn exits with status 1.
        print(f"fastapi_app: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


app = _app_or_exit()
