"""Apps the component tests serve with real uvicorn and gunicorn processes:
`app`, FastAPI + install() (settings from the environment, metrics at /metrics), and
`bare`, a plain ASGI callable without lifespan support, given the lifecycle by wrap().
"""

from __future__ import annotations

import asyncio
import dataclasses
import os

from fastapi import FastAPI
from fastapi_zdk import LifecycleSettings, install, wrap
from fastapi_zdk.asgi import Receive, Scope, Send

app = FastAPI()
install(
    app,
    dataclasses.replace(LifecycleSettings.from_env(), metrics_path="/metrics"),
    health_details=lambda: {"pid": os.getpid()},
)


@app.get("/endpoint")
async def endpoint() -> dict[str, str]:
    return {"Hello": "World"}


@app.get("/slow")
async def slow(seconds: float) -> dict[str, float]:
    await asyncio.sleep(seconds)
    return {"slept": seconds}


async def _bare(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        raise RuntimeError(f"no {scope['type']} support")  # e.g. no lifespan
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"bare"})


bare = wrap(_bare)
