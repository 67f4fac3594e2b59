"""docs/adopt.md followed literally: its first ```bash block, run from the repository's
root with an empty virtualenv's pip first on PATH, installs the library; its first
```python block, saved as main.py in a directory of its own, is served by that venv's
uvicorn and behaves as the page says under a real SIGTERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.component

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs/adopt.md"


def first_block(language: str) -> str:
    return DOC.read_text().split(f"```{language}\n", 1)[1].split("\n```", 1)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> tuple[int, dict[str, object], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read()), response.getheader("connection", "")
    finally:
        conn.close()


def wait_ready(port: int, server: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "uvicorn exited before it was ready"
        try:
            if get(port, "/health/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("never ready")


def test_adopt_md_followed_literally(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "VIRTUAL_ENV": str(env_dir)}
    env.pop("PYTHONPATH", None)
    install = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", first_block("bash")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]

    service = tmp_path / "service"
    service.mkdir()
    (service / "main.py").write_text(first_block("python") + "\n")
    # The service imports nothing from this repository: only from the venv.
    assert "fastapi_app" not in (service / "main.py").read_text()

    port = free_port()
    server = subprocess.Popen(
        [str(bin_dir / "uvicorn"), "main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=service,
        env={**env, "APP_VERSION": "3.1.4", "APP_DRAIN_SECONDS": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_ready(port, server)
        status, body, _ = get(port, "/health")
        assert (status, body["version"], body["status"]) == (200, "3.1.4", "ok")
        assert get(port, "/health/live")[:2] == (200, {"status": "alive"})
        assert get(port, "/stock/abc")[:2] == (200, {"sku": "abc", "available": 0})

        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        status, body, connection = get(port, "/health/ready")
        assert (status, body, connection) == (503, {"status": "draining"}, "close")
        # Still serving during the drain, each answer closing its connection.
        assert get(port, "/stock/ab")[::2] == (200, "close")
        assert server.wait(timeout=15) == 0
    finally:
        if server.poll() is None:
            server.kill()
        output = server.communicate()[0]
    print(output[-2000:])
