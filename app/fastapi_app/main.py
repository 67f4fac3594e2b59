"""App factory and the ASGI app uvicorn serves: `uvicorn fastapi_app.main:app`.

Resources live in the lifespan (engine); the per-process lifecycle (readiness, warm-up,
draining, SIGTERM hand-over to uvicorn, /health*) comes from the fastapi-zdk package,
adopted like any user would. Migrations never run here (`alembic upgrade head` is a
separate step before the rollout).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_zdk import LifecycleSettings, install
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from fastapi_app.api.main import api_router
from fastapi_app.api.routes.health import RevisionCache, plain_router
from fastapi_app.core.config import Settings, SettingsError, load_settings
from fastapi_app.core.db import create_db_engine, ping
from fastapi_app.core.logs import get_logger, one_line
from fastapi_app.core.metrics import Metrics

log = get_logger()

# Upper bound of the warm-up's database ping (a dead host must not hold readiness back).
WARM_UP_PING_SECONDS = 10


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = create_db_engine(settings.database_url)
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker(engine, expire_on_commit=False)
    try:
        yield
    finally:
        engine.dispose()


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database error on %s %s: %s", request.method, request.url.path, one_line(exc))
    return JSONResponse(
        status_code=503,
        content={"detail": "database unavailable or schema not migrated (alembic upgrade head)"},
    )


def lifecycle_settings(settings: Settings) -> LifecycleSettings:
    """The lifecycle's settings from the service's own (validated) ones."""
    return LifecycleSettings(
        version=settings.version,
        revision=settings.app_revision,
        pod=settings.pod_name,
        warmup_seconds=settings.app_warmup_seconds,
        drain_seconds=settings.app_drain_seconds,
    )


def database_warm_up(app: FastAPI) -> Callable[[], Awaitable[None]]:
    """warm_up: open the pool's first connection before traffic comes. Readiness must not
    depend on the database (a database outage would take every pod out of the Service),
    so a failure is logged, not raised."""

    async def warm_up() -> None:
        engine: Engine = app.state.engine
        try:
            await asyncio.wait_for(asyncio.to_thread(ping, engine), timeout=WARM_UP_PING_SECONDS)
            log.info("warm-up database=reachable")
        except Exception as exc:
            log.warning("warm-up database=unreachable error=%s", one_line(exc))

    return warm_up


def database_details(app: FastAPI) -> Callable[[], Mapping[str, object]]:
    """health_details: the database's Alembic revision (cached; run in a worker thread)."""

    def details() -> Mapping[str, object]:
        cache: RevisionCache = app.state.revision_cache
        engine: Engine | None = getattr(app.state, "engine", None)
        return {"db_revision": cache.get(engine) if engine is not None else None}

    return details


def create_app(settings: Settings | None = None, *, lifecycle_middleware: bool = True) -> FastAPI:
    """Build the app. Without `settings`, read them from the environment.

    lifecycle_middleware=False: the same app without fastapi-zdk (benchmark baseline):
    plain /health routes, always ready, no draining."""
    settings = settings if settings is not None else load_settings()
    app = FastAPI(
        title="fastapi-app",
        summary="Sample service of the zero-downtime deploy kit",
        version=settings.version,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.revision_cache = RevisionCache()
    app.include_router(api_router)
    app.add_exception_handler(SQLAlchemyError, database_error)
    if lifecycle_middleware:
        lifecycle = install(
            app,
            lifecycle_settings(settings),
            warm_up=database_warm_up(app),
            health_details=database_details(app),
        )
        app.state.metrics = Metrics(lifecycle, settings.version, settings.app_revision)
    else:
        app.include_router(plain_router)
        app.state.metrics = Metrics(None, settings.version, settings.app_revision)
    return app


def _app_or_exit(**kwargs: Any) -> FastAPI:
    try:
        return create_app(**kwargs)
    except SettingsError as exc:
        # One line naming the setting, no traceback; uvicorn exits with status 1.
        print(f"fastapi_app: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


app = _app_or_exit()
