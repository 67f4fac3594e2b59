"""The middleware in-process (httpx ASGITransport, the lifespan driven like a server):
probes, metrics, draining headers, counting, warm-up, install() and wrap()."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi_zdk import Lifecycle, LifecycleMiddleware, LifecycleSettings, install, wrap
from fastapi_zdk.asgi import Message, Receive, Scope, Send
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from zdk_support import client, running, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("error")]  # e.g. never awaited


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


SETTINGS = LifecycleSettings(version="1.2.3", revision="abc", pod="pod-a", drain_seconds=1)


def make_app(settings: LifecycleSettings = SETTINGS, **kwargs: object) -> tuple[FastAPI, Lifecycle]:
    app = FastAPI()

    @app.get("/endpoint")
    async def endpoint() -> dict[str, str]:
        return {"Hello": "World"}

    @app.get("/keep-alive")
    async def keep_alive() -> Response:
        return PlainTextResponse("ok", headers={"Connection": "keep-alive"})

    @app.get("/wait")
    async def wait(request: Request) -> dict[str, bool]:
        await request.app.state.gate.wait()
        return {"waited": True}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.state.gate = asyncio.Event()
    lifecycle = install(app, settings, **kwargs)  # type: ignore[arg-type]
    return app, lifecycle


# ---------------------------------------------------------------- probes
async def test_probes_while_starting_then_ready() -> None:
    gate = asyncio.Event()

    async def warm_up() -> None:
        await gate.wait()

    app, lifecycle = make_app(warm_up=warm_up)
    async with running(app), client(app) as http:
        health = await http.get("/health")
        assert health.status_code == 200
        assert health.json() == {
            "status": "ok",
            "version": "1.2.3",
            "revision": "abc",
            "pod": "pod-a",
        }
        assert health.headers["content-type"] == "application/json"
        live = await http.get("/health/live")
        assert (live.status_code, live.json()) == (200, {"status": "alive"})
        ready = await http.get("/health/ready")
        assert (ready.status_code, ready.json()) == (503, {"status": "starting"})
        assert lifecycle.phase == "starting"
        assert (await http.get("/endpoint")).status_code == 200  # serving, just not ready
        gate.set()
        await wait_until(lambda: lifecycle.ready)
        ready = await http.get("/health/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        assert "connection" not in ready.headers


async def test_head_and_other_methods() -> None:
    app, _ = make_app()
    async with running(app), client(app) as http:
        head = await http.head("/health")
        assert head.status_code == 200
        assert head.content == b""
        assert int(head.headers["content-length"]) > 0
        post = await http.post("/health/ready")
        assert post.status_code == 405
        assert post.headers["allow"] == "GET, HEAD"


async def test_probes_pass_user_middleware_by() -> None:
    """Served before the app: an authentication middleware never blocks a probe."""
    app, _ = make_app()

    async def deny(request: Request, call_next: RequestResponseEndpoint) -> Response:
        return PlainTextResponse("no", status_code=401)

    app.add_middleware(BaseHTTPMiddleware, dispatch=deny)
    async with running(app), client(app) as http:
        assert (await http.get("/endpoint")).status_code == 401
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/health")).status_code == 200


async def test_health_path_and_root_path() -> None:
    settings = LifecycleSettings(pod="p", health_path="/_zdk/health")
    app, _ = make_app(settings)
    async with running(app), client(app) as http:
        assert (await http.get("/_zdk/health/live")).status_code == 200
        assert (await http.get("/health/live")).status_code == 404  # the app's
    mounted, _ = make_app()
    transport = httpx.ASGITransport(app=mounted, root_path="/api")
    async with running(mounted), httpx.AsyncClient(transport=transport) as http:
        for path in ("/api/health/live", "/health/live"):  # below root_path or not
            assert (await http.get(f"http://testserver{path}")).status_code == 200, path


async def test_health_details_sync_runs_in_a_worker_thread() -> None:
    threads: list[threading.Thread] = []

    def details() -> Mapping[str, object]:
        threads.append(threading.current_thread())
        return {"db_revision": "0003", "count": 2}

    app, _ = make_app(health_details=details)
    async with running(app), client(app) as http:
        body = (await http.get("/health")).json()
    assert body == {"status": "ok", "version": "1.2.3", "revision": "abc", "pod": "pod-a",
                    "db_revision": "0003", "count": 2}  # fmt: skip
    assert len(threads) == 1
    assert threads[0] is not threading.current_thread()


async def test_health_details_async() -> None:
    async def details() -> Mapping[str, object]:
        await asyncio.sleep(0)
        return {"queue": "empty"}

    app, _ = make_app(health_details=details)
    async with running(app), client(app) as http:
        assert (await http.get("/health")).json()["queue"] == "empty"


async def test_health_details_error_still_200(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def details() -> Mapping[str, object]:
        nonlocal calls
        calls += 1
        raise ConnectionError("database\n  unreachable")

    app, _ = make_app(health_details=details)
    with caplog.at_level(logging.WARNING, logger="fastapi_zdk"):
        async with running(app), client(app) as http:
            for _ in range(3):
                response = await http.get("/health")
                assert response.status_code == 200
                assert response.json() == {
                    "status": "ok", "version": "1.2.3", "revision": "abc", "pod": "pod-a",
                    "details_error": "ConnectionError: database unreachable",
                }  # fmt: skip
    assert calls == 3
    logged = [r for r in caplog.records if "health_details failed" in r.getMessage()]
    assert len(logged) == 1  # polled constantly: the same error is logged once


async def test_health_details_not_a_mapping() -> None:
    app, _ = make_app(health_details=lambda: ["x"])
    async with running(app), client(app) as http:
        body = (await http.get("/health")).json()
    assert body["details_error"] == "TypeError: health_details returned list, not a mapping"


# ---------------------------------------------------------------- metrics
async def test_metrics() -> None:
    settings = LifecycleSettings(version="1.2.3", revision='a"b', pod="p", metrics_path="/metrics")
    app, lifecycle = make_app(settings)
    async with running(app), client(app) as http:
        await wait_until(lambda: lifecycle.ready)
        await http.get("/endpoint")
        await http.get("/nope")
        response = await http.get("/metrics")
        text = response.text
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "# TYPE http_requests_total counter" in text
        assert 'http_requests_total{status="200"} 1\n' in text
        assert 'http_requests_total{status="404"} 1\n' in text
        assert "http_requests_in_flight 1\n" in text  # the /metrics request itself
        assert "app_draining 0\n" in text
        assert "app_ready 1\n" in text
        assert 'app_info{version="1.2.3",revision="a\\"b"} 1\n' in text
        lifecycle.start_draining("test")
        text = (await http.get("/metrics")).text
        assert "app_draining 1\n" in text
        assert "app_ready 0\n" in text
        assert 'http_requests_total{status="200"} 2\n' in text  # health and metrics count too


async def test_no_metrics_path_leaves_the_path_to_the_app() -> None:
    app, _ = make_app()
    async with running(app), client(app) as http:
        assert (await http.get("/metrics")).status_code == 404


# ---------------------------------------------------------------- draining
async def test_draining_closes_every_response() -> None:
    app, lifecycle = make_app()
    async with running(app), client(app) as http:
        await wait_until(lambda: lifecycle.ready)
        kept = await http.get("/keep-alive")
        assert kept.headers["connection"] == "keep-alive"  # untouched while serving
        assert lifecycle.start_draining("test")
        assert not lifecycle.start_draining("again")  # idempotent
        assert lifecycle.phase == "draining"
        assert not lifecycle.ready
        ready = await http.get("/health/ready")
        assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
        for path in ("/health/ready", "/health", "/health/live", "/endpoint", "/nope"):
            assert (await http.get(path)).headers["connection"] == "close", path
        replaced = await http.get("/keep-alive")
        assert replaced.headers.get_list("connection") == ["close"]


async def test_unhandled_error_counted_and_closed_while_draining() -> None:
    """Outermost: outside Starlette's ServerErrorMiddleware, which answers the 500."""
    app, lifecycle = make_app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with running(app), httpx.AsyncClient(transport=transport) as http:
        lifecycle.start_draining("test")
        response = await http.get("http://testserver/boom")
    assert response.status_code == 500
    assert response.headers["connection"] == "close"
    assert lifecycle.responses == {500: 1}
    assert lifecycle.in_flight == 0
    assert lifecycle.served == 1


async def test_in_flight_counts_slow_requests() -> None:
    app, lifecycle = make_app()
    async with running(app), client(app) as http:
        slow = asyncio.create_task(http.get("/wait"))
        await wait_until(lambda: lifecycle.in_flight == 1)
        lifecycle.start_draining("test")
        app.state.gate.set()
        response = await slow
        assert response.json() == {"waited": True}
        assert response.headers["connection"] == "close"  # drained mid-request: closes
        assert lifecycle.in_flight == 0
        assert lifecycle.responses == {200: 1}


async def test_lifespan_shutdown_drains() -> None:
    app, lifecycle = make_app()
    async with running(app):
        await wait_until(lambda: lifecycle.ready)
    assert lifecycle.phase == "draining"


# ---------------------------------------------------------------- warm-up
async def test_warm_up_after_the_apps_start_up_and_the_warmup_seconds() -> None:
    order: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.sleep(0.05)
        order.append("app started")
        yield

    async def warm_up() -> None:
        order.append("warm-up")

    app = FastAPI(lifespan=lifespan)
    lifecycle = install(app, LifecycleSettings(pod="p", warmup_seconds=0.3), warm_up=warm_up)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with running(app):
        assert order == ["app started", "warm-up"]
        await asyncio.sleep(0.1)
        assert not lifecycle.ready  # warmed up, but warmup_seconds not over
        await wait_until(lambda: lifecycle.ready)
        assert loop.time() - started >= 0.3


async def test_warm_up_failure_stays_not_ready(caplog: pytest.LogCaptureFixture) -> None:
    async def warm_up() -> None:
        raise RuntimeError("cache\nunavailable")

    app, lifecycle = make_app(warm_up=warm_up)
    with caplog.at_level(logging.INFO, logger="fastapi_zdk"):
        async with running(app), client(app) as http:
            await asyncio.sleep(0.1)
            assert lifecycle.phase == "starting"
            assert (await http.get("/health/ready")).status_code == 503
            assert (await http.get("/health/live")).status_code == 200
    failed = [r for r in caplog.records if "warm_up=failed" in r.getMessage()]
    assert len(failed) == 1
    assert failed[0].levelno == logging.ERROR
    assert "RuntimeError: cache unavailable" in failed[0].getMessage()


async def test_draining_during_warm_up_never_becomes_ready() -> None:
    app, lifecycle = make_app(LifecycleSettings(pod="p", warmup_seconds=0.1))
    async with running(app):
        lifecycle.start_draining("test")
        await asyncio.sleep(0.2)
        assert not lifecycle.ready


async def test_start_up_failure_is_reported_and_never_ready() -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("no config")
        yield

    app = FastAPI(lifespan=lifespan)
    lifecycle = install(app, SETTINGS)
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await inbox.put({"type": "lifespan.startup"})
    with pytest.raises(RuntimeError, match="no config"):
        await app({"type": "lifespan"}, inbox.get, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert not lifecycle.ready


async def test_start_up_failure_reported_without_raising_ends_the_lifespan() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no config"})

    middleware = wrap(failing, SETTINGS)
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await inbox.put({"type": "lifespan.startup"})
    # The server sends no shutdown after a failed start-up: nothing may wait for one.
    await asyncio.wait_for(middleware({"type": "lifespan"}, inbox.get, send), 2)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert not middleware.lifecycle.ready


# ---------------------------------------------------------------- install / wrap
def test_install_returns_the_lifecycle_once() -> None:
    app = FastAPI()
    lifecycle = install(app, SETTINGS)
    assert app.state.lifecycle is lifecycle
    assert isinstance(app.build_middleware_stack(), LifecycleMiddleware)
    with pytest.raises(RuntimeError, match="already installed"):
        install(app, SETTINGS)


async def test_install_after_start_is_refused() -> None:
    app = FastAPI()
    async with running(app):
        pass
    with pytest.raises(RuntimeError, match="already started"):
        install(app, SETTINGS)


async def test_user_middleware_added_after_install_is_inside() -> None:
    app, lifecycle = make_app()

    async def tag(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["x-tag"] = "1"
        return response

    app.add_middleware(BaseHTTPMiddleware, dispatch=tag)
    async with running(app), client(app) as http:
        assert (await http.get("/endpoint")).headers["x-tag"] == "1"
        assert lifecycle.served == 1


async def _bare_raising(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        raise RuntimeError("http only")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"bare"})


async def _bare_returning(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await _bare_raising(scope, receive, send)


@pytest.mark.parametrize("bare", [_bare_raising, _bare_returning])
async def test_wrap_a_bare_app_without_lifespan(
    bare: object, caplog: pytest.LogCaptureFixture
) -> None:
    middleware = wrap(bare, LifecycleSettings(pod="p", warmup_seconds=0.05))  # type: ignore[arg-type]
    lifecycle = middleware.lifecycle
    with caplog.at_level(logging.INFO, logger="fastapi_zdk"):
        async with running(middleware) as sent, client(middleware) as http:
            assert [m["type"] for m in sent] == ["lifespan.startup.complete"]
            await wait_until(lambda: lifecycle.ready)
            assert (await http.get("/")).text == "bare"
            assert (await http.get("/health/ready")).json() == {"status": "ready"}
    assert [m["type"] for m in sent][-1] == "lifespan.shutdown.complete"
    assert lifecycle.phase == "draining"
    assert lifecycle.responses == {200: 2}
    phases = [r.getMessage().split()[1] for r in caplog.records if "phase=" in r.getMessage()]
    assert phases == ["phase=starting", "phase=ready", "phase=draining", "phase=stopped"]


async def test_wrap_passes_other_scopes_through() -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    middleware = wrap(inner, SETTINGS)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        return None

    await middleware({"type": "websocket", "path": "/health"}, receive, send)
    assert seen == ["websocket"]
    assert middleware.lifecycle.served == 0
