"""The database revision that /health reports, and plain /health routes for the app
built without the lifecycle (`create_app(lifecycle_middleware=False)`, the benchmark's
baseline). With the lifecycle, fastapi-zdk serves /health, /health/live and
/health/ready itself, before the app."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from sqlalchemy import Engine

from fastapi_app.core.config import Settings
from fastapi_app.core.db import current_revision
from fastapi_app.models import Health, Readiness

# /health is polled constantly (probes, the zero-downtime probe): ask the database at
# most this often for its Alembic revision.
DB_REVISION_TTL_SECONDS = 2.0


class RevisionCache:
    def __init__(self) -> None:
        self.value: str | None = None
        self.expires = 0.0

    def get(self, engine: Engine) -> str | None:
        now = time.monotonic()
        if now >= self.expires:
            self.value = current_revision(engine)
            self.expires = now + DB_REVISION_TTL_SECONDS
        return self.value


plain_router = APIRouter(prefix="/health", tags=["health"])


@plain_router.get("", response_model=Health)
def health(request: Request) -> Health:
    settings: Settings = request.app.state.settings
    cache: RevisionCache = request.app.state.revision_cache
    engine: Engine | None = getattr(request.app.state, "engine", None)
    return Health(
        status="ok",
        version=settings.version,
        revision=settings.app_revision,
        pod=settings.pod_name,
        db_revision=cache.get(engine) if engine is not None else None,
    )


@plain_router.get("/live", response_model=Readiness)
async def live() -> Readiness:
    return Readiness(status="alive")


@plain_router.get("/ready", response_model=Readiness)
async def ready() -> Readiness:
    return Readiness(status="ready")  # no lifecycle: ready as soon as it serves
