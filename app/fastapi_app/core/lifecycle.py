"""Start-up, readiness and draining of one app process.

Timeline (docs/contracts.md, "Shutdown timeline of one pod"):

    start -> warming (ready 503) -> ready (200) -> SIGTERM -> draining for APP_DRAIN_SECONDS
          (ready 503, every response `Connection: close`, still accepting) -> handed to
          uvicorn (stops accepting, waits for in-flight requests up to
          --timeout-graceful-shutdown) -> lifespan shutdown -> exit 0

Why the drain: the endpoint removal of a terminating pod reaches every proxy a little
late, and clients keep idle keep-alive connections to it. While draining, such a
connection gets one more answer, with `Connection: close`, instead of being cut while a
request may already be on its way.

Signal chaining: uvicorn 0.54 installs its SIGINT/SIGTERM handlers with signal.signal()
in Server.capture_signals(), which wraps the whole of Server._serve() - so they are in
place before the app is imported and before lifespan start-up. The lifespan replaces the
SIGTERM handler with `Lifecycle._on_sigterm` and keeps uvicorn's. After the drain the
shutdown is handed to uvicorn by setting `Server.should_exit`, which is what
`Server.handle_exit` does for SIGTERM, *without* recording the signal: uvicorn re-raises
recorded signals after restoring the default handlers, so the process would die of
SIGTERM (exit status 143) instead of exiting 0. Any other previous handler is called
as is. SIGINT stays uvicorn's (Ctrl+C: immediate graceful shutdown, twice: force).
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from sqlalchemy import Engine, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_app.core.config import Settings
from fastapi_app.core.logs import get_logger, one_line

log = get_logger()

SignalHandler = Callable[[int, FrameType | None], Any] | int | None


class Lifecycle:
    """Readiness and draining state, shared by the middleware and the health routes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = False
        self.draining = False
        self.in_flight = 0
        self.responses: dict[int, int] = {}  # status code -> count
        self._started = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_handler: SignalHandler = None
        self._installed = False
        self._handed_over = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def served(self) -> int:
        return sum(self.responses.values())

    @property
    def phase(self) -> str:
        if self.draining:
            return "draining"
        return "ready" if self.ready else "starting"

    # ------------------------------------------------------------------ start-up
    async def start(self, engine: Engine | None) -> None:
        """Called by the lifespan: take over SIGTERM, warm up in the background."""
        self._loop = asyncio.get_running_loop()
        self._started = time.monotonic()
        self._installed = self.install_signal_handler()
        log.info(
            "lifecycle phase=starting version=%s revision=%s pod=%s warmup=%ss drain=%ss"
            " sigterm_handler=%s",
            self.settings.version, self.settings.app_revision, self.settings.pod_name,
            self.settings.app_warmup_seconds, self.settings.app_drain_seconds,
            "chained" if self._installed else "not-main-thread",
        )  # fmt: skip
        self._spawn(self._warm_up(engine))

    async def _warm_up(self, engine: Engine | None) -> None:
        if engine is not None:
            try:
                await asyncio.wait_for(asyncio.to_thread(_ping, engine), timeout=10)
                log.info("lifecycle phase=warming database=reachable")
            except Exception as exc:  # readiness must not depend on the database
                log.warning("lifecycle phase=warming database=unreachable error=%s", one_line(exc))
        remaining = self.settings.app_warmup_seconds - (time.monotonic() - self._started)
        if remaining > 0:
            await asyncio.sleep(remaining)
        if not self.draining:
            self.ready = True
            log.info("lifecycle phase=ready after=%.2fs", time.monotonic() - self._started)

    # ------------------------------------------------------------------ draining
    def start_draining(self, reason: str) -> bool:
        """Readiness 503 and `Connection: close` from now on. False if already draining."""
        if self.draining:
            return False
        self.draining = True
        self.ready = False
        self._announce_draining(reason)
        return True

    def _announce_draining(self, reason: str) -> None:
        log.info(
            "lifecycle phase=draining reason=%s drain=%ss in_flight=%d",
            reason, self.settings.app_drain_seconds, self.in_flight,
        )  # fmt: skip

    def install_signal_handler(self) -> bool:
        """Chain SIGTERM in front of the server's own handler (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return False  # e.g. TestClient runs the lifespan in a worker thread
        self._previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
        return True

    def restore_signal_handler(self) -> None:
        if self._installed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._installed = False

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes, possibly inside the event loop or
        # a lock holder: only plain attribute writes here (the very next response sees
        # them); logging and the timer run on the loop.
        first = not self.draining
        self.draining = True
        self.ready = False
        if self._loop is None or self._loop.is_closed():
            self._after_signal(first, signum, frame)
        else:
            self._loop.call_soon_threadsafe(self._after_signal, first, signum, frame)

    def _after_signal(self, first: bool, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not first:
            log.info("lifecycle phase=draining second %s: shutting down now", name)
            self._hand_over(signum, frame)
            return
        self._announce_draining(name)
        delay = self.settings.app_drain_seconds
        if self._loop is None or delay <= 0:
            self._hand_over(signum, frame)
        else:
            self._schedule_hand_over(delay, signum, frame)

    def _schedule_hand_over(self, delay: float, signum: int, frame: FrameType | None) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            self._hand_over(signum, frame)

        self._spawn(later())

    def _hand_over(self, signum: int, frame: FrameType | None) -> None:
        if self._handed_over:
            return
        self._handed_over = True
        previous = self._previous_handler
        server = getattr(previous, "__self__", None)
        log.info(
            "lifecycle phase=shutdown handing over to the server in_flight=%d served=%d",
            self.in_flight, self.served,
        )  # fmt: skip
        if server is not None and _is_uvicorn_server(server):
            server.should_exit = True  # = uvicorn's handle_exit(SIGTERM) minus the re-raise
        elif callable(previous):
            previous(signum, frame)
        elif previous in (signal.SIG_DFL, None):
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    # ------------------------------------------------------------------ shutdown
    async def stop(self) -> None:
        """Called by the lifespan at shutdown (after uvicorn let in-flight requests end)."""
        self.start_draining("shutdown")
        self.restore_signal_handler()
        for task in list(self._tasks):
            task.cancel()
        log.info(
            "lifecycle phase=stopped served=%d in_flight=%d uptime=%.1fs",
            self.served, self.in_flight, time.monotonic() - self._started,
        )  # fmt: skip

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _is_uvicorn_server(obj: object) -> bool:
    try:
        from uvicorn.server import Server
    except ImportError:  # pragma: no cover - uvicorn is a runtime dependency
        return False
    return isinstance(obj, Server)


CLOSE = (b"connection", b"close")


class LifecycleMiddleware:
    """Pure ASGI middleware: counts requests in flight and by status; while draining,
    every response carries `Connection: close` (the server then closes the connection)."""

    def __init__(self, app: ASGIApp, lifecycle: Lifecycle) -> None:
        self.app = app
        self.lifecycle = lifecycle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lifecycle = self.lifecycle
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if lifecycle.draining:
                    headers = [
                        (name, value)
                        for name, value in message.get("headers", ())
                        if name.lower() != b"connection"
                    ]
                    headers.append(CLOSE)
                    message = {**message, "headers": headers}
            await send(message)

        # Plain integers: this runs on the event loop thread only.
        lifecycle.in_flight += 1
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            lifecycle.in_flight -= 1
            responses = lifecycle.responses
            responses[status] = responses.get(status, 0) + 1
