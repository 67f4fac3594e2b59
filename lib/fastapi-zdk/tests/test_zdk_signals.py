"""SIGTERM chaining in front of the server's handler, the drain timer and the hand-over,
in-process with real signals (raise_signal in the main thread, where the loop runs)."""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType

import pytest
import uvicorn
from fastapi_zdk import Lifecycle, LifecycleMiddleware, LifecycleSettings, wrap
from fastapi_zdk.asgi import Receive, Scope, Send
from zdk_support import client, running, sigterm_handler, wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def served(drain: float, warmup: float = 0) -> tuple[LifecycleMiddleware, Lifecycle]:
    middleware = wrap(_app, LifecycleSettings(pod="p", drain_seconds=drain, warmup_seconds=warmup))
    return middleware, middleware.lifecycle


async def test_sigterm_drains_then_calls_the_previous_handler() -> None:
    loop = asyncio.get_running_loop()
    calls: list[tuple[int, float]] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        calls.append((signum, loop.time()))

    app, lifecycle = served(drain=0.3)
    with sigterm_handler(previous):
        async with running(app), client(app) as http:
            await wait_until(lambda: lifecycle.ready)
            assert signal.getsignal(signal.SIGTERM) == lifecycle._on_sigterm
            sent = loop.time()
            signal.raise_signal(signal.SIGTERM)
            assert lifecycle.draining  # at once, before any await
            assert lifecycle.phase == "draining"
            response = await http.get("/")
            assert response.headers["connection"] == "close"
            assert (await http.get("/health/ready")).status_code == 503
            await asyncio.sleep(0.1)
            assert calls == []  # still draining
            await wait_until(lambda: bool(calls))
            assert [signum for signum, _ in calls] == [signal.SIGTERM]
            assert calls[0][1] - sent >= 0.3
        assert signal.getsignal(signal.SIGTERM) is previous  # given back at shutdown


async def test_second_sigterm_hands_over_at_once() -> None:
    calls: list[int] = []
    app, _ = served(drain=30)
    with sigterm_handler(lambda signum, frame: calls.append(signum)):
        async with running(app):
            signal.raise_signal(signal.SIGTERM)
            await asyncio.sleep(0.05)
            assert calls == []
            signal.raise_signal(signal.SIGTERM)
            await asyncio.sleep(0.05)
            assert calls == [signal.SIGTERM]
            signal.raise_signal(signal.SIGTERM)  # handed over already: not again
            await asyncio.sleep(0.05)
            assert calls == [signal.SIGTERM]


async def test_zero_drain_hands_over_immediately() -> None:
    calls: list[int] = []
    app, lifecycle = served(drain=0)
    with sigterm_handler(lambda signum, frame: calls.append(signum)):
        async with running(app):
            signal.raise_signal(signal.SIGTERM)
            await asyncio.sleep(0.05)
            assert calls == [signal.SIGTERM]
            assert lifecycle.draining


async def test_uvicorn_server_gets_should_exit_without_a_recorded_signal() -> None:
    """uvicorn re-raises recorded signals after restoring SIG_DFL (exit 143); the hand-over
    sets should_exit like its handle_exit does, without recording SIGTERM."""
    server = uvicorn.Server(uvicorn.Config(_app))
    app, _ = served(drain=0.1)
    with sigterm_handler(server.handle_exit):
        async with running(app):
            signal.raise_signal(signal.SIGTERM)
            await asyncio.sleep(0.01)
            assert not server.should_exit  # draining first
            await wait_until(lambda: server.should_exit)
            assert server._captured_signals == []
            assert not server.force_exit


async def test_ignored_sigterm_stays_ignored() -> None:
    app, lifecycle = served(drain=0)
    with sigterm_handler(signal.SIG_IGN):
        async with running(app):
            signal.raise_signal(signal.SIGTERM)
            await asyncio.sleep(0.05)
            assert lifecycle.draining
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN


async def test_sigint_is_left_alone() -> None:
    before = signal.getsignal(signal.SIGINT)
    app, _ = served(drain=1)
    async with running(app):
        assert signal.getsignal(signal.SIGINT) is before


def test_lifespan_outside_the_main_thread_does_not_touch_signals() -> None:
    """E.g. Starlette's TestClient runs the lifespan in a worker thread."""
    app, lifecycle = served(drain=1)
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    async def scenario() -> None:
        async with running(app):
            seen.append(signal.getsignal(signal.SIGTERM))
            await wait_until(lambda: lifecycle.ready)

    thread = threading.Thread(target=asyncio.run, args=(scenario(),))
    thread.start()
    thread.join(10)
    assert seen == [before]
    assert lifecycle.draining  # the lifespan shutdown still drains
