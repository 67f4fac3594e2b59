"""The probe: an open-loop scheduler feeding a small pool of worker threads."""

from __future__ import annotations

import json
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import httpx

from zdprobe.config import ProbeConfig
from zdprobe.errors import OTHER, classify
from zdprobe.report import Report, Result, percentile
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


def _first_header(response: httpx.Response, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = response.headers.get(name)
        if value:
            return str(value)
    return None


def identify(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
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


class _Probe:
    def __init__(
        self, config: ProbeConfig, stop: threading.Event, sink: LineSink | None, live: bool
    ) -> None:
        self.config = config
        self.stop_event = stop
        self.sink = sink
        self.live = live
        self.lock = threading.Lock()
        self.results: list[Result] = []
        self.ok_latencies: list[float] = []
        self.failed = 0
        self.kinds_seen: set[str] = set()
        self.tracker = VersionTracker()
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.t0 = 0.0

    def emit(self, line: str) -> None:
        if self.sink is not None:
            self.sink(line)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def client(self) -> httpx.Client:
        cfg = self.config
        keepalive = cfg.mode == "keepalive"
        headers = {"User-Agent": "zdprobe", "Accept": "application/json"}
        if not keepalive:
            headers["Connection"] = "close"
        return httpx.Client(
            limits=httpx.Limits(
                max_connections=cfg.concurrency,
                max_keepalive_connections=cfg.concurrency if keepalive else 0,
            ),
            timeout=httpx.Timeout(cfg.timeout),
            headers=headers,
            follow_redirects=False,
            trust_env=False,  # never measure a proxy from the environment instead of the target
            verify=cfg.verify_tls,
        )

    def worker(self, client: httpx.Client) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            self.one(client, job)

    def one(self, client: httpx.Client, job: _Job) -> None:
        start = self.now()
        result = Result(
            seq=job.seq, path=job.path, scheduled=job.scheduled, start=start, latency_ms=0
        )
        begin = time.perf_counter()
        try:
            response = client.get(self.config.target(job.path))
            result.status = response.status_code
            result.version, result.revision, result.pod = identify(response)
        except httpx.HTTPError as exc:
            result.error = classify(exc)
        except Exception:  # anything else the transport throws is still a failed request
            result.error = OTHER
        result.latency_ms = (time.perf_counter() - begin) * 1000.0
        self.record(result)

    def record(self, result: Result) -> None:
        lines: list[str] = []
        with self.lock:
            self.results.append(result)
            if result.ok:
                self.ok_latencies.append(result.latency_ms)
            else:
                self.failed += 1
                if result.outcome not in self.kinds_seen:
                    self.kinds_seen.add(result.outcome)
                    lines.append(
                        f"Failure at {result.start:.2f}s: {result.outcome} on {result.path}"
                        " (first of its kind)"
                    )
            if result.version is not None:
                message = self.tracker.observe(result.start, result.version)
                if message is not None:
                    lines.append(f"{message} (at {result.start:.2f}s)")
        for line in lines:
            self.emit(line)

    def live_line(self, now: float, sent_total: int, last_done: int) -> tuple[str, int]:
        """One status line; ``rate`` is requests completed since the previous line."""
        with self.lock:
            done = len(self.results)
            failed = self.failed
            ordered = sorted(self.ok_latencies[-LIVE_P99_WINDOW:])
            versions = self.tracker.current(self.now())
        p99 = percentile(ordered, 99)
        p99_text = "-" if p99 is None else f"{p99:.1f}ms"
        queued = self.jobs.qsize()
        behind = f" BEHIND {queued} queued (raise --concurrency)" if queued > 0 else ""
        return (
            f"[{now:6.1f}s] sent {sent_total - queued} ok {done - failed} failed {failed} "
            f"rate {done - last_done}/s p99 {p99_text} "
            f"version {'+'.join(versions) or '-'}{behind}",
            done,
        )

    def schedule(self) -> tuple[str, int]:
        """Enqueue jobs on a fixed timetable until a limit is reached; returns (reason, sent)."""
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
            if self.stop_event.is_set():
                return "stopped", sent
            if now >= cfg.duration:
                return "duration", sent
            if sent >= budget:
                return "max_requests", sent
            if until is not None and now >= next_check:
                next_check = now + UNTIL_FILE_CHECK_S
                if os.path.exists(until):
                    return "until_file", sent
            if self.live and now >= next_live:
                line, last_done = self.live_line(now, sent, last_done)
                self.emit(line)
                next_live = math.floor(now) + 1.0
            due = [counts[i] / rate for i, (_, rate) in enumerate(streams)]
            index = min(range(len(streams)), key=due.__getitem__)
            when = due[index]
            if when >= cfg.duration:
                wait = cfg.duration - now
            elif when > now:
                wait = when - now
            else:
                self.jobs.put(_Job(seq=sent, path=streams[index][0], scheduled=when))
                counts[index] += 1
                sent += 1
                continue
            timeout = min(wait, UNTIL_FILE_CHECK_S)
            if self.live:
                timeout = min(timeout, next_live - now)
            self.stop_event.wait(max(0.0, timeout))

    def run(self) -> Report:
        with self.client() as client:
            workers = [
                threading.Thread(
                    target=self.worker, args=(client,), name=f"zdprobe-{i}", daemon=True
                )
                for i in range(self.config.concurrency)
            ]
            for thread in workers:
                thread.start()
            started_at = time.time()
            self.t0 = time.monotonic()
            try:
                reason, _ = self.schedule()
            finally:
                # Jobs already due get a short grace to be picked up; whatever is still queued
                # after it was never sent (the workers were all busy: the probe fell behind).
                grace_end = time.monotonic() + min(self.config.timeout, DRAIN_GRACE_S)
                while not self.jobs.empty() and time.monotonic() < grace_end:
                    time.sleep(0.005)
                unsent = 0
                while True:
                    try:
                        if self.jobs.get_nowait() is not None:
                            unsent += 1
                    except queue.Empty:
                        break
                for _ in workers:
                    self.jobs.put(None)
                for thread in workers:
                    thread.join()
        elapsed = self.now()
        with self.lock:
            results = sorted(self.results, key=lambda r: r.seq)
        return Report(
            config=self.config,
            results=results,
            started_at=started_at,
            elapsed_s=elapsed,
            stop_reason=reason,
            unsent=unsent,
            transitions=list(self.tracker.transitions),
            flips=self.tracker.flips,
        )


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
    return _Probe(config, stop or threading.Event(), on_line, live).run()


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
