"""Real server processes on 127.0.0.1 for the probe's component tests; every wait is bounded."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
START_TIMEOUT_S = 15.0


def probe_env() -> dict[str, str]:
    """Environment for ``zdprobe`` subprocesses: the test's own (zdprobe is installed)."""
    return dict(os.environ)


def listening_socket() -> socket.socket:
    """A TCP socket listening on a free port of 127.0.0.1 (the only address tests use)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


class AppServer:
    """``serve.py`` (uvicorn + asgi_app) on an inherited listening socket."""

    def __init__(self, sock: socket.socket, **env: str) -> None:
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.site = env.get("site") or None  # answers only to this Host (see asgi_app)
        child_env = dict(os.environ)
        child_env.update({f"ZDTEST_{k.upper()}": v for k, v in env.items()})
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "serve.py"), str(sock.fileno())],
            cwd=HERE,
            env=child_env,
            pass_fds=(sock.fileno(),),
        )

    def wait_serving(self, version: str, timeout: float = START_TIMEOUT_S) -> None:
        """Wait until a fresh connection is answered by this version (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                headers = {"Connection": "close"} | ({"Host": self.site} if self.site else {})
                response = httpx.get(self.url + "/health", timeout=2.0, headers=headers)
                if response.json().get("version") == version:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.url} did not serve version {version} in {timeout}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


class ClosingServer:
    """``closing_server.py``: drops every reused keep-alive connection (``fin`` or ``rst``),
    or answers in an odd way (``hang``, ``chunked``, ``eof``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "closing_server.py"), mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the server prints its port first thing
        match = re.fullmatch(r"PORT (\d+)\n", line)
        if match is None:
            self.stop()
            raise RuntimeError(f"closing_server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{match.group(1)}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
