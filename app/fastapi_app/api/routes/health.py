"""Health: /health (identity), /health/live (process), /health/ready (traffic gate)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine

from fastapi_app.core.config import Settings
from fastapi_app.core.db import current_revision
from fastapi_app.core.lifecycle import Lifecycle
from fastapi_app.models import Health, Readiness

router = APIRouter(prefix="/health", tags=["health"])

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


@router.get("", response_model=Health)
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


@router.get("/live", response_model=Readiness)
async def live() -> Readiness:
    return Readiness(status="alive")


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "warming up or draining"}},
)
async def ready(request: Request, response: Response) -> Readiness:
    lifecycle: Lifecycle = request.app.state.lifecycle
    phase = lifecycle.phase
    if phase != "ready":
        response.status_code = 503
    return Readiness(status=phase)
