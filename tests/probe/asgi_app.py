"""A tiny ASGI app for the probe's tests (independent of app/, which lives its own life).

Environment: ZDTEST_VERSION (0.0.1), ZDTEST_REVISION (test), ZDTEST_POD (a name, or
``client-port`` to answer with the client's source port so tests can count connections, or
``host`` to answer with the request's Host header), ZDTEST_FAIL_EVERY (N: every Nth request
answers 503; 0 = never), ZDTEST_SITE (a host name: like an ingress controller, answer 404 to
a request whose Host header is not this name; empty = any host).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

VERSION = os.environ.get("ZDTEST_VERSION", "0.0.1")
REVISION = os.environ.get("ZDTEST_REVISION", "test")
POD = os.environ.get("ZDTEST_POD", "test-pod")
FAIL_EVERY = int(os.environ.get("ZDTEST_FAIL_EVERY", "0"))
SITE = os.environ.get("ZDTEST_SITE", "")
_counter = itertools.count(1)


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    number = next(_counter)
    path = scope["path"]
    headers = dict(scope["headers"])
    host = headers.get(b"host", b"").decode("latin-1")
    if SITE and host.split(":")[0] != SITE:
        await _answer(send, 404, {"detail": f"no site {host}"})
    elif path == "/health":
        failing = FAIL_EVERY > 0 and number % FAIL_EVERY == 0
        client = scope.get("client") or ("", 0)
        pod = {"client-port": str(client[1]), "host": host}.get(POD, POD)
        await _answer(
            send,
            503 if failing else 200,
            {
                "status": "unavailable" if failing else "ok",
                "version": VERSION,
                "revision": REVISION,
                "pod": pod,
            },
        )
    elif path == "/endpoint":
        await _answer(send, 200, {"Hello": "World"})
    else:
        await _answer(send, 404, {"detail": "Not Found"})
