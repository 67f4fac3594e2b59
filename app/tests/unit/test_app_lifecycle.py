"""Lifecycle: SIGTERM chaining in front of uvicorn's handler, the drain timer, and the
pure ASGI middleware (in-flight count, Connection: close)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from fastapi_app.core.config import Settings
from fastapi_app.core.lifecycle import Lifecycle, LifecycleMiddleware
from fastapi_app.core.metrics import Metrics
from prometheus_client import generate_latest
from starlette.types import Message, Receive, Scope, Send


def make_lifecycle(settings: Settings) -> Lifecycle:
    return Lifecycle(settings)


def exposition(lifecycle: Lifecycle) -> str:
    metrics = Metrics(lifecycle, "1.2.3", "abc")
    return generate_latest(metrics.registry).decode()


def with_sigterm_handler(handler: Any, scenario: Callable[[], Any]) -> None:
    """Run `scenario()` (a coroutine factory) in a fresh loop, SIGTERM set to `handler`."""
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        asyncio.run(scenario())
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_drains_then_calls_the_previous_handler(
    make_settings: Callable[..., Settings],
) -> None:
    calls: list[tuple[int, float]] = []
    lifecycle = make_lifecycle(make_settings(app_drain_seconds=0.3))

    def previous(signum: int, frame: FrameType | None) -> None:
        calls.append((signum, asyncio.get_running_loop().time()))

    async def scenario() -> None:
        await lifecycle.start(None)
        assert signal.getsignal(signal.SIGTERM) == lifecycle._on_sigterm
        sent = asyncio.get_running_loop().time()
        signal.raise_signal(signal.SIGTERM)
        assert lifecycle.draining  # at once, before any await
        assert lifecycle.phase == "draining"
        await asyncio.sleep(0.1)
        assert calls == []  # still draining
        assert "app_draining 1.0" in exposition(lifecycle)
        await asyncio.sleep(0.4)
        assert [signum for signum, _ in calls] == [signal.SIGTERM]
        assert calls[0][1] - sent >= 0.3
        await lifecycle.stop()
        assert signal.getsignal(signal.SIGTERM) is previous  # restored

    with_sigterm_handler(previous, scenario)


def test_second_sigterm_hands_over_at_once(make_settings: Callable[..., Settings]) -> None:
    calls: list[int] = []
    lifecycle = make_lifecycle(make_settings(app_drain_seconds=30))

    async def scenario() -> None:
        await lifecycle.start(None)
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert calls == []
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert calls == [signal.SIGTERM]
        await lifecycle.stop()

    with_sigterm_handler(lambda signum, frame: calls.append(signum), scenario)


def test_zero_drain_hands_over_immediately(make_settings: Callable[..., Settings]) -> None:
    calls: list[int] = []
    lifecycle = make_lifecycle(make_settings(app_drain_seconds=0))

    async def scenario() -> None:
        await lifecycle.start(None)
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.05)
        assert calls == [signal.SIGTERM]
        assert lifecycle.draining
        await lifecycle.stop()

    with_sigterm_handler(lambda signum, frame: calls.append(signum), scenario)


def test_uvicorn_server_gets_should_exit_without_a_recorded_signal(
    make_settings: Callable[..., Settings],
) -> None:
    """uvicorn re-raises recorded signals after restoring SIG_DFL (exit 143); the hand-over
    sets should_exit like its handle_exit does, without recording SIGTERM."""
    server = uvicorn.Server(uvicorn.Config("fastapi_app.main:app"))
    lifecycle = make_lifecycle(make_settings(app_drain_seconds=0.1))

    async def scenario() -> None:
        await lifecycle.start(None)
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.01)
        assert not server.should_exit  # draining first
        await asyncio.sleep(0.2)
        assert server.should_exit
        assert server._captured_signals == []
        await lifecycle.stop()

    with_sigterm_handler(server.handle_exit, scenario)


def test_warm_up_then_ready(make_settings: Callable[..., Settings]) -> None:
    lifecycle = make_lifecycle(make_settings(app_warmup_seconds=0.2))

    async def scenario() -> None:
        await lifecycle.start(None)
        assert lifecycle.phase == "starting"
        await asyncio.sleep(0.1)
        assert not lifecycle.ready
        await asyncio.sleep(0.2)
        assert lifecycle.phase == "ready"
        assert "app_ready 1.0" in exposition(lifecycle)
        await lifecycle.stop()
        assert lifecycle.phase == "draining"

    with_sigterm_handler(signal.SIG_DFL, scenario)


def test_draining_during_warm_up_never_becomes_ready(
    make_settings: Callable[..., Settings],
) -> None:
    lifecycle = make_lifecycle(make_settings(app_warmup_seconds=0.1, app_drain_seconds=5))

    async def scenario() -> None:
        await lifecycle.start(None)
        lifecycle.start_draining("test")
        await asyncio.sleep(0.2)
        assert not lifecycle.ready
        await lifecycle.stop()

    with_sigterm_handler(signal.SIG_DFL, scenario)


async def _inner_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/wait":
        await asyncio.sleep(0.1)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"Connection", b"keep-alive")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def _call(app: LifecycleMiddleware, path: str) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "http", "path": path, "headers": []}, receive, send)
    return sent


def test_middleware_counts_in_flight_and_closes(make_settings: Callable[..., Settings]) -> None:
    lifecycle = make_lifecycle(make_settings())
    app = LifecycleMiddleware(_inner_app, lifecycle)

    async def scenario() -> None:
        task = asyncio.create_task(_call(app, "/wait"))
        await asyncio.sleep(0.02)
        assert lifecycle.in_flight == 1
        assert "http_requests_in_flight 1.0" in exposition(lifecycle)
        sent = await task
        assert lifecycle.in_flight == 0
        assert (b"Connection", b"keep-alive") in sent[0]["headers"]  # untouched while serving
        lifecycle.start_draining("test")
        headers = (await _call(app, "/"))[0]["headers"]
        assert (b"connection", b"close") in headers
        assert all(name.lower() != b"connection" or value == b"close" for name, value in headers)
        assert lifecycle.served == 2
        assert lifecycle.responses == {200: 2}
        assert 'http_requests_total{status="200"} 2.0' in exposition(lifecycle)
        assert 'app_info{revision="abc",version="1.2.3"} 1.0' in exposition(lifecycle)

    asyncio.run(scenario())


def test_middleware_passes_lifespan_through(make_settings: Callable[..., Settings]) -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    lifecycle = make_lifecycle(make_settings())
    app = LifecycleMiddleware(inner, lifecycle)

    async def noop_receive() -> Message:
        return {}

    async def noop_send(message: Message) -> None:
        return None

    asyncio.run(app({"type": "lifespan"}, noop_receive, noop_send))
    assert seen == ["lifespan"]
    assert lifecycle.served == 0
