"""quotes: a small FastAPI service of its own (no database), deployed by the kit's
deploy.yml through inventory values only (deploy-vars.yml).

It adopts the zero-downtime lifecycle with fastapi_zdk, on other paths and another
port than the sample app, and runs under gunicorn with uvicorn workers.
ZDK_LIFECYCLE=off runs it as it was before adoption: the negative control of
tests/e2e/test_byo_app.py.
"""

from __future__ import annotations

import dataclasses
import os

from fastapi import FastAPI, HTTPException
from fastapi_zdk import LifecycleSettings, install

QUOTES = (
    "Simple things should be simple, complex things should be possible.",
    "Make it work, make it right, make it fast.",
    "There is no place like 127.0.0.1.",
    "Premature optimization is the root of all evil.",
)

app = FastAPI(title="quotes")

if os.environ.get("ZDK_LIFECYCLE", "on") != "off":
    # Health on /status, /status/live, /status/ready; request counters on /metrics.
    install(
        app,
        dataclasses.replace(
            LifecycleSettings.from_env(), health_path="/status", metrics_path="/metrics"
        ),
    )


@app.get("/quotes/{number}")
def quote(number: int) -> dict[str, object]:
    if not 0 <= number < len(QUOTES):
        raise HTTPException(status_code=404, detail=f"no quote {number}")
    return {"number": number, "quote": QUOTES[number]}


@app.get("/quotes")
def quotes() -> dict[str, object]:
    return {"count": len(QUOTES), "greeting": os.environ.get("QUOTES_GREETING", "hello")}
