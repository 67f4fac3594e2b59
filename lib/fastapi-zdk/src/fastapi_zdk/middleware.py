"""LifecycleMiddleware: the pure ASGI layer around an app.

- lifespan: drives the Lifecycle around the app's own lifespan (and completes the
  protocol itself if the app has none);
- http: counts requests in flight and responses by status; while draining, every
  response carries `Connection: close` (the server then closes the connection);
- serves the probes ({health_path}, /live, /ready) and the optional metrics itself,
  before the app: an app's authentication middleware never blocks a probe;
- anything else (websocket) passes through.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable

from fastapi_zdk._log import ensure_handler, log, one_line
from fastapi_zdk.asgi import ASGIApp, Message, Receive, Scope, Send
from fastapi_zdk.lifecycle import Lifecycle

CLOSE = (b"connection", b"close")
JSON = (b"content-type", b"application/json")
PROMETHEUS = (b"content-type", b"text/plain; version=0.0.4; charset=utf-8")
Probe = Callable[[], Awaitable[tuple[int, bytes, tuple[bytes, bytes]]]]


class LifecycleMiddleware:
    """Serve `app` with the lifecycle. Use `install()` for Starlette/FastAPI apps (it puts
    this outside Starlette's own error middleware) and `wrap()` for any other ASGI app."""

    def __init__(self, app: ASGIApp, lifecycle: Lifecycle | None = None) -> None:
        self.app = app
        self.lifecycle = lifecycle if lifecycle is not None else Lifecycle()
        settings = self.lifecycle.settings
        health, live, ready = settings.probe_paths
        self._probes: dict[str, Probe] = {
            health: self._health,
            live: self._live,
            ready: self._ready,
        }
        if settings.metrics_path is not None:
            self._probes[settings.metrics_path] = self._metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # ------------------------------------------------------------------ http
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        lifecycle = self.lifecycle
        status = 500  # what the server answers if the app fails before responding

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if lifecycle._draining:
                    message = {**message, "headers": _with_close(message.get("headers", ()))}
            await send(message)

        probe = self._probes.get(_route_path(scope))
        # Plain integers: this runs on the event loop thread only.
        lifecycle._in_flight += 1
        try:
            if probe is None:
                await self.app(scope, receive, send_wrapper)
            else:
                await self._serve_probe(scope, probe, send_wrapper)
        finally:
            lifecycle._in_flight -= 1
            responses = lifecycle._responses
            responses[status] = responses.get(status, 0) + 1

    async def _serve_probe(self, scope: Scope, probe: Probe, send: Send) -> None:
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            status, body, content_type = 405, b'{"detail":"Method Not Allowed"}', JSON
            extra = [(b"allow", b"GET, HEAD")]
        else:
            status, body, content_type = await probe()
            extra = [(b"cache-control", b"no-store")]
        headers = [content_type, (b"content-length", str(len(body)).encode()), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    async def _health(self) -> tuple[int, bytes, tuple[bytes, bytes]]:
        return 200, _json(await self.lifecycle._health_body()), JSON

    async def _live(self) -> tuple[int, bytes, tuple[bytes, bytes]]:
        return 200, b'{"status":"alive"}', JSON

    async def _ready(self) -> tuple[int, bytes, tuple[bytes, bytes]]:
        phase = self.lifecycle.phase
        return (200 if phase == "ready" else 503), _json({"status": phase}), JSON

    async def _metrics(self) -> tuple[int, bytes, tuple[bytes, bytes]]:
        return 200, prometheus_text(self.lifecycle).encode(), PROMETHEUS

    # ------------------------------------------------------------------ lifespan
    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        ensure_handler()  # by now the app configured logging, if it does
        lifecycle = self.lifecycle
        # What went through so far: the server's startup/shutdown messages, the app's
        # replies to them (started = replied to startup, successfully or not).
        seen = dict.fromkeys(("startup", "started", "failed", "shutdown", "stopped"), False)

        async def app_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                seen["startup"] = True
                lifecycle._lifespan_startup()
            elif message["type"] == "lifespan.shutdown":
                seen["shutdown"] = True
                lifecycle._lifespan_shutdown()
            return message

        async def app_send(message: Message) -> None:
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                seen["started"] = True
                lifecycle._app_startup_complete()
            elif kind == "lifespan.startup.failed":
                seen["started"] = seen["failed"] = True
                lifecycle._lifespan_shutdown()  # the server exits; give SIGTERM back
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                seen["stopped"] = True
            await send(message)
            if seen["stopped"]:
                lifecycle._lifespan_stopped()

        try:
            await self.app(scope, app_receive, app_send)
        except Exception as exc:
            if seen["started"]:
                raise  # the app's own start-up or shutdown error: the server reports it
            # Like uvicorn's `--lifespan auto`: an app that fails on the lifespan scope
            # before its start-up completed has no lifespan support.
            log.info("lifecycle app without lifespan support (%s): completed here", one_line(exc))
        if seen["stopped"] or seen["failed"]:
            return  # done, or the server exits without a shutdown
        # The app returned (or failed) before the protocol ended: finish it for the server.
        if not seen["startup"]:
            message = await receive()
            if message["type"] != "lifespan.startup":
                return
            lifecycle._lifespan_startup()
        if not seen["started"]:
            lifecycle._app_startup_complete()
            await send({"type": "lifespan.startup.complete"})
        if not seen["shutdown"]:
            await receive()  # lifespan.shutdown: the only message left in the protocol
            lifecycle._lifespan_shutdown()
        await send({"type": "lifespan.shutdown.complete"})
        lifecycle._lifespan_stopped()


def _with_close(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers with `Connection: close` instead of any connection header."""
    kept = [(name, value) for name, value in headers if name.lower() != b"connection"]
    kept.append(CLOSE)
    return kept


def _route_path(scope: Scope) -> str:
    """The path below the app's root_path (as Starlette's routing sees it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


def _json(body: object) -> bytes:
    # default=str: a health detail such as a datetime is shown, not an error.
    return json.dumps(body, separators=(",", ":"), default=str).encode()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(lifecycle: Lifecycle) -> str:
    """The request metrics in Prometheus text format 0.0.4 (no prometheus_client needed)."""
    settings = lifecycle.settings
    lines = [
        "# HELP http_requests_total HTTP requests answered, by status code",
        "# TYPE http_requests_total counter",
    ]
    for status, count in sorted(lifecycle.responses.items()):
        lines.append(f'http_requests_total{{status="{status}"}} {count}')
    gauges = (
        ("http_requests_in_flight", "HTTP requests being served now", lifecycle.in_flight),
        (
            "app_draining",
            "1 from the termination signal on (readiness 503, Connection: close)",
            int(lifecycle.draining),
        ),
        ("app_ready", "1 while the readiness probe answers 200", int(lifecycle.ready)),
    )
    for name, text, value in gauges:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {value}"]
    lines += [
        "# HELP app_info Version and revision of the running app",
        "# TYPE app_info gauge",
        f'app_info{{version="{_escape(settings.version)}",'
        f'revision="{_escape(settings.revision)}"}} 1',
    ]
    return "\n".join(lines) + "\n"
