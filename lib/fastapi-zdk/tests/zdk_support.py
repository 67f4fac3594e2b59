"""Helpers of the fastapi-zdk tests (a module, not a conftest: test module and conftest
names must stay unique across the repository's test directories)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi_zdk.asgi import ASGIApp, Message

TESTS_DIR = Path(__file__).resolve().parent
SRC_DIR = TESTS_DIR.parent / "src"
PACKAGE_DIR = TESTS_DIR.parent
LIFECYCLE_ENV = ("APP_VERSION", "APP_REVISION", "POD_NAME", "APP_WARMUP_SECONDS",
                 "APP_DRAIN_SECONDS", "UVICORN_HOST", "UVICORN_PORT", "WEB_CONCURRENCY",
                 "UVICORN_TIMEOUT_KEEP_ALIVE", "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN")  # fmt: skip


# ---------------------------------------------------------------- in-process
@contextlib.asynccontextmanager
async def running(app: ASGIApp) -> AsyncIterator[list[Message]]:
    """Run `app`'s lifespan like a server (start-up before, shutdown after the block);
    yields the lifespan messages the app sent."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    sent: list[Message] = []
    replied = asyncio.Event()

    async def send(message: Message) -> None:
        sent.append(message)
        replied.set()

    async def lifespan() -> None:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)

    task = asyncio.create_task(lifespan())
    await inbox.put({"type": "lifespan.startup"})
    await asyncio.wait_for(replied.wait(), 5)
    assert sent[-1]["type"] == "lifespan.startup.complete", sent
    try:
        yield sent
    finally:
        replied.clear()
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(replied.wait(), 5)
        await asyncio.wait_for(task, 5)


def client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def wait_until(condition: Callable[[], bool], within: float = 5) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@contextlib.contextmanager
def sigterm_handler(handler: Any) -> Iterator[None]:
    """SIGTERM set to `handler` (the 'server's' handler the lifecycle chains in front of)."""
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_env(**env: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k not in LIFECYCLE_ENV},
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
        **env,
    }


@dataclass
class Proc:
    """A real server process on 127.0.0.1:port, output in log_path."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sigterm(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.log()}"
            with contextlib.suppress(OSError, httpx.HTTPError):
                response = httpx.get(f"http://127.0.0.1:{self.port}/health/ready", timeout=2)
                if response.status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"not ready within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start(argv: list[str], log_path: Path, port: int, **env: str) -> Proc:
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            argv, cwd=TESTS_DIR, env=process_env(**env), stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return Proc(port, proc, log_path)


def uvicorn(
    target: str, log_path: Path, *, graceful: int = 10, options: Sequence[str] = (), **env: str
) -> Proc:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
            "--timeout-graceful-shutdown", str(graceful), "--timeout-keep-alive", "75",
            *options]  # fmt: skip
    return start(argv, log_path, port, **env)


def gunicorn(target: str, log_path: Path, **env: str) -> Proc:
    """Bound from the environment by the configuration (on loopback)."""
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:fastapi_zdk.gunicorn_conf", target]
    return start(argv, log_path, port, UVICORN_HOST="127.0.0.1", UVICORN_PORT=str(port), **env)


def raw_get(sock: socket.socket, path: str, timeout: float = 10) -> tuple[int, dict[str, str]]:
    """One HTTP/1.1 request on an open socket; returns status and lower-cased headers."""
    sock.settimeout(timeout)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response to {path}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        body += sock.recv(65536)
    return status, headers


def closed_by_peer(sock: socket.socket, timeout: float = 3) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def get(port: int, path: str) -> tuple[int, dict[str, str]]:
    """One request on a fresh connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        return raw_get(sock, path)
