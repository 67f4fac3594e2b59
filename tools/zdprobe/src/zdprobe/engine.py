"""The probe: an open-loop scheduler feeding a pool of workers, all on one asyncio loop.

Each worker owns one connection (kept between requests in ``keepalive`` mode, opened for each
request in ``fresh`` mode) and speaks HTTP/1.1 through ``zdprobe.client``. ``run()`` blocks
the calling thread for the whole run, on an event loop of its own.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from zdprobe.client import Connection, Response, Target, connect
from zdprobe.config import ProbeConfig
from zdprobe.errors import OTHER, TransportError, classify
from zdprobe.report import Report, Result
from zdprobe.versions import VersionTracker

LineSink = Callable[[str], None]

MAX_BODY_FOR_VERSION = 64 * 1024
UNTIL_FILE_CHECK_S = 0.1
DRAIN_GRACE_S = 2.0
LIVE_P99_WINDOW = 100_000  # the live p99 covers at most the latest this many answers
VERSION_HEADERS = ("x-app-version", "x-version")
REVISION_HEADERS = ("x-app-revision", "x-revision")
POD_HEADERS = ("x-pod-name", "x-pod")


@dataclass(frozen=True, slots=True)
class _Job:
    seq: int
    path: str
    scheduled: float


def _first_header(response: Response, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = response.headers.get(name)
        if value:
            return str(value)
    return None


def identify(response: Response) -> tuple[str | None, str | None, str | None]:
    """(version, revision, pod) served: from the JSON body when it has them, else headers."""
    version = _first_header(response, VERSION_HEADERS)
    revision = _first_header(response, REVISION_HEADERS)
    pod = _first_header(response, POD_HEADERS)
    content_type = response.headers.get("content-type", "")
    if "json" in content_type and len(response.content) <= MAX_BODY_FOR_VERSION:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict):
            version = _text(body.get("version")) or version
            revision = _text(body.get("revision")) or revision
            pod = _text(body.get("pod")) or pod
    if version is None and revision is not None:
        version = revision
    return version, revision, pod


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:200] or None


def live_p99(latencies: list[float]) -> float | None:
    """Nearest-rank p99 of the latest LIVE_P99_WINDOW values (selection, not a full sort)."""
    window = latencies[-LIVE_P99_WINDOW:]
    if not window:
        return None
    rank = max(1, math.ceil(0.99 * len(window)))
    return heapq.nlargest(len(window) - rank + 1, window)[-1]


class _Probe:
    def __init__(
        self, config: ProbeConfig, stop: threading.Event, sink: LineSink | None, live: bool
    ) -> None:
        self.config = config
        self.stop_event = stop
        self.sink = sink
        self.live = live
        self.keepalive = config.mode == "keepalive"
        self.target = Target.from_url(
            config.url, host_header=config.host_header, verify_tls=config.verify_tls
        )
        paths = [config.path] + ([config.health_path] if config.health_path else [])
        self.requests = {p: self.target.request(p, close=not self.keepalive) for p in paths}
        self.results: list[Result] = []
        self.ok_latencies: list[float] = []
        self.failed = 0
        self.kinds_seen: set[str] = set()
        self.tracker = VersionTracker()
        self.jobs: asyncio.Queue[_Job | None] = asyncio.Queue()
        self.t0 = 0.0

    def emit(self, line: str) -> None:
        if self.sink is not None:
            self.sink(line)

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def worker(self) -> None:
        conn: Connection | None = None
        try:
            while True:
                job = await self.jobs.get()
                if job is None:
                    return
                conn = await self.one(conn, job)
                self.jobs.task_done()
        finally:
            if conn is not None:
                conn.close()

    async def one(self, conn: Connection | None, job: _Job) -> Connection | None:
        """Send one request (on ``conn`` when it can still be used); return the connection
        worth keeping for the next one, if any."""
        start = self.now()
        result = Result(
            seq=job.seq, path=job.path, scheduled=job.scheduled, start=start, latency_ms=0
        )
        begin = time.perf_counter()
        try:
            if conn is not None and not conn.reusable:
                conn.close()
                conn = None
            data = self.requests[job.path]
            if conn is None:
                conn = await connect(self.target, self.config.timeout, data)
                response = await conn.response()
            else:
                response = await conn.request(data, self.config.timeout)
            result.status = response.status_code
            result.version, result.revision, result.pod = identify(response)
        except TransportError as exc:
            result.error = classify(exc)
        except Exception:  # anything else the transport throws is still a failed request
            result.error = OTHER
        result.latency_ms = (time.perf_counter() - begin) * 1000.0
        if conn is not None and (
            result.error is not None or not self.keepalive or not conn.reusable
        ):
            conn.close()
            conn = None
        self.record(result)
        return conn

    def record(self, result: Result) -> None:
        self.results.append(result)
        if result.ok:
            self.ok_latencies.append(result.latency_ms)
        else:
            self.failed += 1
            if result.outcome not in self.kinds_seen:
                self.kinds_seen.add(result.outcome)
                self.emit(
                    f"Failure at {result.start:.2f}s: {result.outcome} on {result.path}"
                    " (first of its kind)"
                )
        if result.version is not None:
            message = self.tracker.observe(result.start, result.version)
            if message is not None:
                self.emit(f"{message} (at {result.start:.2f}s)")

    def live_line(self, now: float, sent_total: int, last_done: int) -> tuple[str, int]:
        """One status line; ``rate`` is requests completed since the previous line."""
        done = len(self.results)
        failed = self.failed
        p99 = live_p99(self.ok_latencies)
        versions = self.tracker.current(self.now())
        p99_text = "-" if p99 is None else f"{p99:.1f}ms"
        queued = self.jobs.qsize()
        behind = f" BEHIND {queued} queued (raise --concurrency)" if queued > 0 else ""
        return (
            f"[{now:6.1f}s] sent {sent_total - queued} ok {done - failed} failed {failed} "
            f"rate {done - last_done}/s p99 {p99_text} "
            f"version {'+'.join(versions) or '-'}{behind}",
            done,
        )

    async def schedule(self) -> str:
        """Queue jobs on a fixed timetable until a limit is reached; returns the reason."""
        cfg = self.config
        budget = cfg.request_budget
        streams: list[tuple[str, float]] = [(cfg.path, cfg.rate)]
        if cfg.health_path is not None:
            streams.append((cfg.health_path, cfg.health_rate))
        counts = [0] * len(streams)
        until = cfg.until_file
        next_check = 0.0
        next_live = 1.0
        last_done = 0
        sent = 0
        while True:
            now = self.now()
            if self.live and now >= next_live:  # before this pass queues what is due
                line, last_done = self.live_line(now, sent, last_done)
                self.emit(line)
                next_live = math.floor(now) + 1.0
            # Every request due by now goes to the queue (the workers start them), also after
            # a stall of this loop and at the very end: a due request is sent or counted unsent.
            while True:
                due = [counts[i] / rate for i, (_, rate) in enumerate(streams)]
                index = min(range(len(streams)), key=due.__getitem__)
                when = due[index]
                if when > now or when >= cfg.duration or sent >= budget:
                    break
                self.jobs.put_nowait(_Job(seq=sent, path=streams[index][0], scheduled=when))
                counts[index] += 1
                sent += 1
            if self.stop_event.is_set():
                return "stopped"
            if now >= cfg.duration:
                return "duration"
            if sent >= budget:
                return "max_requests"
            if until is not None and now >= next_check:
                next_check = now + UNTIL_FILE_CHECK_S
                if os.path.exists(until):  # noqa: ASYNC240 (one stat every 0.1 s)
                    return "until_file"
            wait = (cfg.duration if when >= cfg.duration else when) - now
            timeout = min(wait, UNTIL_FILE_CHECK_S)
            if self.live:
                timeout = min(timeout, next_live - now)
            await asyncio.sleep(max(0.0, timeout))

    async def main(self) -> Report:
        workers = [asyncio.create_task(self.worker()) for _ in range(self.config.concurrency)]
        started_at = time.time()
        self.t0 = time.monotonic()
        try:
            reason = await self.schedule()
        finally:
            # Jobs already due get a short grace to be picked up; whatever is still queued
            # after it was never sent (the workers were all busy: the probe fell behind).
            try:
                async with asyncio.timeout(min(self.config.timeout, DRAIN_GRACE_S)):
                    await self.jobs.join()
            except TimeoutError:
                pass
            unsent = 0
            while not self.jobs.empty():
                if self.jobs.get_nowait() is not None:
                    unsent += 1
            for _ in workers:
                self.jobs.put_nowait(None)
            await asyncio.gather(*workers)
        elapsed = self.now()
        return Report(
            config=self.config,
            results=sorted(self.results, key=lambda r: r.seq),
            started_at=started_at,
            elapsed_s=elapsed,
            stop_reason=reason,
            unsent=unsent,
            transitions=list(self.tracker.transitions),
            flips=self.tracker.flips,
        )


def _run_on_own_loop(probe: _Probe) -> Report:
    """``asyncio.run(probe.main())``, in a helper thread when this one already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(probe.main())
    outcome: list[Report] = []
    failure: list[BaseException] = []

    def _thread() -> None:
        try:
            outcome.append(asyncio.run(probe.main()))
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)

    thread = threading.Thread(target=_thread, name="zdprobe-loop", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def run(
    config: ProbeConfig,
    *,
    stop: threading.Event | None = None,
    on_line: LineSink | None = None,
    live: bool = False,
) -> Report:
    """Run one probe to completion and return its report.

    The run ends at ``config.duration``, after ``config.max_requests``, when ``until_file``
    appears, or when ``stop`` is set, whichever comes first; requests in flight then finish
    (each is bounded by ``config.timeout``). ``on_line`` receives event lines ("Version updated
    from A to B", first failure of each kind) and, when ``live``, one status line per second.
    Raises ConfigError for an invalid configuration.
    """
    config.validate()
    return _run_on_own_loop(_Probe(config, stop or threading.Event(), on_line, live))


class ProbeInBackground:
    """Run the probe in a thread for the duration of a ``with`` block.

    Leaving the block stops the probe (unless ``stop_on_exit`` is false, in which case it runs
    until its own limits) and waits for it; the result is then in ``.report``.
    """

    def __init__(
        self,
        config: ProbeConfig,
        *,
        on_line: LineSink | None = None,
        live: bool = False,
        stop_on_exit: bool = True,
    ) -> None:
        config.validate()
        self.config = config
        self.stop_on_exit = stop_on_exit
        self._stop = threading.Event()
        self._on_line = on_line
        self._live = live
        self._report: Report | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="zdprobe", daemon=True)

    def _main(self) -> None:
        try:
            self._report = run(self.config, stop=self._stop, on_line=self._on_line, live=self._live)
        except BaseException as exc:  # handed to the caller in .report / .stop()
            self._error = exc

    def __enter__(self) -> ProbeInBackground:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.stop_on_exit:
            self._stop.set()
        self._thread.join()

    def stop(self) -> Report:
        """Stop now, wait for requests in flight and return the report."""
        self._stop.set()
        self._thread.join()
        return self.report

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def report(self) -> Report:
        if self._thread.is_alive():
            raise RuntimeError("the probe is still running; leave the with block or call stop()")
        if self._error is not None:
            raise RuntimeError("the probe failed") from self._error
        if self._report is None:
            raise RuntimeError("the probe was never started")
        return self._report
