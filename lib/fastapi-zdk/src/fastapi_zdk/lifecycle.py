"""Start-up, readiness and draining of one server process.

Timeline:

    start -> warming (ready 503) -> ready (200) -> SIGTERM -> draining for drain_seconds
          (ready 503, every response `Connection: close`, still accepting) -> handed to
          the server (uvicorn stops accepting, waits for in-flight requests up to
          --timeout-graceful-shutdown) -> lifespan shutdown -> exit 0

Why the drain: the endpoint removal of a terminating pod reaches every proxy a little
late, and clients keep idle keep-alive connections to it. While draining, such a
connection gets one more answer, with `Connection: close`, instead of being cut while a
request may already be on its way.

Signal chaining: uvicorn (0.54; the same since 0.29) installs its SIGINT/SIGTERM
handlers with signal.signal() in Server.capture_signals(), which wraps the whole of
Server._serve() - so they are in place before the lifespan start-up, in the main thread
(under gunicorn too: each uvicorn worker runs its own Server in its main thread, and the
gunicorn master forwards SIGTERM to the workers). At lifespan start-up the lifecycle
replaces the SIGTERM handler with `Lifecycle._on_sigterm` and keeps uvicorn's. After the
drain the shutdown is handed to uvicorn by setting `Server.should_exit`, which is what
`Server.handle_exit` does for SIGTERM, *without* recording the signal: uvicorn re-raises
recorded signals after restoring the default handlers, so the process would die of
SIGTERM (exit status 143) instead of exiting 0. Any other previous handler is called as
is; SIG_DFL is re-raised. SIGINT stays uvicorn's (Ctrl+C: immediate graceful shutdown,
twice: force).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from fastapi_zdk._log import ensure_handler, log, one_line
from fastapi_zdk.settings import LifecycleSettings

if TYPE_CHECKING:
    from uvicorn.server import Server

SignalHandler: TypeAlias = Callable[[int, FrameType | None], Any] | int | None
WarmUp: TypeAlias = Callable[[], Awaitable[None]]
HealthDetails: TypeAlias = Callable[[], Mapping[str, object] | Awaitable[Mapping[str, object]]]
Phase: TypeAlias = Literal["starting", "ready", "draining"]


class Lifecycle:
    """Readiness, draining and request counters of one process.

    `install()` / `wrap()` create it; the middleware drives it. Read-only from outside,
    but for `start_draining()`.
    """

    def __init__(
        self,
        settings: LifecycleSettings | None = None,
        *,
        warm_up: WarmUp | None = None,
        health_details: HealthDetails | None = None,
    ) -> None:
        self.settings = settings if settings is not None else LifecycleSettings.from_env()
        self.warm_up = warm_up
        self.health_details = health_details
        # Plain attributes, written on the event loop thread (and by the signal handler,
        # which runs in the same thread): no locks on the request path.
        self._ready = False
        self._draining = False
        self._in_flight = 0
        self._responses: dict[int, int] = {}  # status code -> count
        self._started = time.monotonic()
        self._app_started: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_handler: SignalHandler = None
        self._installed = False
        self._handed_over = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_details_error: str | None = None

    # ------------------------------------------------------------------ state
    @property
    def ready(self) -> bool:
        """True once started and warmed up, until draining begins."""
        return self._ready

    @property
    def draining(self) -> bool:
        """True from the first SIGTERM (or start_draining(), or lifespan shutdown) on."""
        return self._draining

    @property
    def phase(self) -> Phase:
        if self._draining:
            return "draining"
        return "ready" if self._ready else "starting"

    @property
    def in_flight(self) -> int:
        """HTTP requests being served now (probes included)."""
        return self._in_flight

    @property
    def responses(self) -> dict[int, int]:
        """HTTP responses so far by status code (a copy)."""
        return dict(self._responses)

    @property
    def served(self) -> int:
        return sum(self._responses.values())

    # ------------------------------------------------------------------ start-up
    def _lifespan_startup(self) -> None:
        """Lifespan start-up received: take over SIGTERM, start the warm-up."""
        ensure_handler()
        self._loop = asyncio.get_running_loop()
        self._started = time.monotonic()
        # A second lifespan of the same app (tests) starts afresh; counters stay.
        self._ready = self._draining = self._handed_over = False
        self._app_started = asyncio.Event()
        self._installed = self._install_signal_handler()
        settings = self.settings
        log.info(
            "lifecycle phase=starting version=%s revision=%s pod=%s warmup=%gs drain=%gs"
            " sigterm_handler=%s",
            settings.version, settings.revision, settings.pod, settings.warmup_seconds,
            settings.drain_seconds, "chained" if self._installed else "not-main-thread",
        )  # fmt: skip
        self._spawn(self._warm_up(self._app_started))

    def _app_startup_complete(self) -> None:
        """The wrapped app finished its own start-up (or has no lifespan)."""
        if self._app_started is not None:
            self._app_started.set()

    async def _warm_up(self, app_started: asyncio.Event) -> None:
        await app_started.wait()
        if self.warm_up is not None:
            began = time.monotonic()
            try:
                await self.warm_up()
            except Exception as exc:  # stay not ready: the startup probe restarts the pod
                log.error(
                    "lifecycle phase=warming warm_up=failed error=%s (not ready)", one_line(exc)
                )
                return
            log.info("lifecycle phase=warming warm_up=done took=%.2fs", time.monotonic() - began)
        remaining = self.settings.warmup_seconds - (time.monotonic() - self._started)
        if remaining > 0:
            await asyncio.sleep(remaining)
        if not self._draining:
            self._ready = True
            log.info("lifecycle phase=ready after=%.2fs", time.monotonic() - self._started)

    # ------------------------------------------------------------------ draining
    def start_draining(self, reason: str) -> bool:
        """Readiness 503 and `Connection: close` from now on. False if already draining.

        Does not stop the server: that is the SIGTERM handler's job after the drain."""
        if self._draining:
            return False
        self._draining = True
        self._ready = False
        self._announce_draining(reason)
        return True

    def _announce_draining(self, reason: str) -> None:
        log.info(
            "lifecycle phase=draining reason=%s drain=%gs in_flight=%d",
            reason, self.settings.drain_seconds, self._in_flight,
        )  # fmt: skip

    def _install_signal_handler(self) -> bool:
        """Chain SIGTERM in front of the server's own handler (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return False  # e.g. Starlette's TestClient runs the lifespan in a worker thread
        self._previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
        return True

    def _restore_signal_handler(self) -> None:
        if self._installed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._installed = False

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes, possibly inside the event loop or
        # a lock holder: only plain attribute writes here (the very next response sees
        # them); logging and the timer run on the loop.
        first = not self._draining
        self._draining = True
        self._ready = False
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
        delay = self.settings.drain_seconds
        if self._loop is None or self._loop.is_closed() or delay <= 0:
            self._hand_over(signum, frame)
        else:
            self._spawn(self._hand_over_later(delay, signum, frame))

    async def _hand_over_later(self, delay: float, signum: int, frame: FrameType | None) -> None:
        await asyncio.sleep(delay)
        self._hand_over(signum, frame)

    def _hand_over(self, signum: int, frame: FrameType | None) -> None:
        if self._handed_over:
            return
        self._handed_over = True
        previous = self._previous_handler
        log.info(
            "lifecycle phase=shutdown handing over to the server in_flight=%d served=%d",
            self._in_flight, self.served,
        )  # fmt: skip
        server = _uvicorn_server(previous)
        if server is not None:
            server.should_exit = True  # = uvicorn's handle_exit(SIGTERM) minus the re-raise
        elif callable(previous):
            previous(signum, frame)
        elif previous in (signal.SIG_DFL, None):
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        # SIG_IGN: the process ignored SIGTERM before us; so do we.

    # ------------------------------------------------------------------ shutdown
    def _lifespan_shutdown(self) -> None:
        """Lifespan shutdown received (uvicorn let in-flight requests end), or start-up
        failed: drain (if not yet), give SIGTERM back, stop the background tasks."""
        self.start_draining("shutdown")
        self._restore_signal_handler()
        for task in list(self._tasks):
            task.cancel()

    def _lifespan_stopped(self) -> None:
        log.info(
            "lifecycle phase=stopped served=%d in_flight=%d uptime=%.1fs",
            self.served, self._in_flight, time.monotonic() - self._started,
        )  # fmt: skip

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # a reference, or the task may be garbage-collected
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ probes
    async def _health_body(self) -> dict[str, object]:
        settings = self.settings
        body: dict[str, object] = {
            "status": "ok",
            "version": settings.version,
            "revision": settings.revision,
            "pod": settings.pod,
        }
        if self.health_details is None:
            return body
        try:
            details = await _call_details(self.health_details)
            if not isinstance(details, Mapping):
                raise TypeError(f"health_details returned {type(details).__name__}, not a mapping")
            body.update(details)
        except Exception as exc:  # /health must answer: it identifies the pod
            error = one_line(exc)
            body["details_error"] = error
            if error != self._last_details_error:  # /health is polled: log changes only
                log.warning("lifecycle health_details failed error=%s", error)
            self._last_details_error = error
        else:
            self._last_details_error = None
        return body


async def _call_details(details: HealthDetails) -> object:
    """Await an async callable; run a sync one in a worker thread (a slow database read
    must not block the event loop)."""
    if _is_async_callable(details):
        result: object = details()
    else:
        result = await asyncio.to_thread(details)
    if inspect.isawaitable(result):
        result = await result
    return result


def _is_async_callable(obj: object) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    # A function, or an object whose class defines `async def __call__`.
    return inspect.iscoroutinefunction(obj) or (
        callable(obj) and inspect.iscoroutinefunction(type(obj).__call__)
    )


def _uvicorn_server(handler: SignalHandler) -> Server | None:
    """The uvicorn Server whose bound handle_exit `handler` is, else None."""
    owner = getattr(handler, "__self__", None)
    if owner is None or "uvicorn.server" not in sys.modules:
        return None  # uvicorn not even loaded: no uvicorn server runs this process
    from uvicorn.server import Server  # lazy: uvicorn is no dependency of the package

    return owner if isinstance(owner, Server) else None
