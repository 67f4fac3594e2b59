"""Run asgi_app under uvicorn on an inherited listening socket: ``serve.py FD``.

Several servers can share one socket, so a test can hand traffic from version A to version B
on the same port without a moment where nothing listens (and, by closing every copy, make
the port refuse connections).
"""

from __future__ import annotations

import socket
import sys

import uvicorn


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    config = uvicorn.Config(
        "asgi_app:app",  # importable: the script's directory is first on sys.path
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        timeout_keep_alive=30,
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
