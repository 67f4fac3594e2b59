"""Fixtures for the probe's tests: real servers on 127.0.0.1, always cleaned up."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from .servers import AppServer, ClosingServer, listening_socket

AppFactory = Callable[..., AppServer]
RawFactory = Callable[[str], ClosingServer]


@pytest.fixture
def app_server() -> Iterator[AppFactory]:
    """Start ``asgi_app`` under uvicorn, waiting until it answers.

    ``share=<server>`` listens on the same socket as a running server (a hand-over without a
    gap); ``keep_socket=True`` keeps the test's copy of the socket open until the test ends so
    that a later server can share it. Otherwise the test's copy is closed at once, so the port
    refuses connections as soon as the server dies.
    """
    started: list[AppServer] = []
    kept: list[socket.socket] = []

    def start(
        version: str = "0.0.1",
        *,
        share: AppServer | None = None,
        keep_socket: bool = False,
        **env: str,
    ) -> AppServer:
        sock = share.sock if share is not None else listening_socket()
        server = AppServer(sock, version=version, **env)
        started.append(server)
        if keep_socket:
            kept.append(sock)
        elif share is None:
            sock.close()  # the server process holds its own copy
        server.wait_serving(version)
        return server

    yield start
    for server in started:
        server.stop()
    for sock in kept:
        sock.close()


@pytest.fixture(params=["fin", "rst"])
def closing_server(request: pytest.FixtureRequest) -> Iterator[ClosingServer]:
    server = ClosingServer(request.param)
    yield server
    server.stop()


@pytest.fixture
def raw_server() -> Iterator[RawFactory]:
    """Start ``closing_server.py`` in any of its modes (``hang``, ``chunked``, ``eof``...)."""
    started: list[ClosingServer] = []

    def start(mode: str) -> ClosingServer:
        server = ClosingServer(mode)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
