"""The sample's business endpoints: /endpoint and /slow."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

router = APIRouter(tags=["sample"])


@router.get("/endpoint")
async def endpoint(request: Request) -> dict[str, str]:
    return {"Hello": request.app.state.settings.app_greeting}


@router.get("/slow")
async def slow(
    request: Request,
    seconds: Annotated[float, Query(ge=0, allow_inf_nan=False, description="how long to take")],
) -> dict[str, float]:
    """Answer after `seconds` (an in-flight request for shutdown tests)."""
    bound: float = request.app.state.settings.app_slow_max_seconds
    if seconds > bound:
        raise HTTPException(
            status_code=422,
            detail=f"seconds={seconds:g} is over the bound of {bound:g} (APP_SLOW_MAX_SECONDS)",
        )
    await asyncio.sleep(seconds)
    return {"slept": seconds}
