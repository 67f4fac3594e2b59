"""Turn a failed HTTP exchange into one stable, countable error kind."""

from __future__ import annotations

import ssl

import httpx

CONNECT_REFUSED = "connect_refused"
CONNECT_TIMEOUT = "connect_timeout"
CONNECT_ERROR = "connect_error"
READ_TIMEOUT = "read_timeout"
WRITE_TIMEOUT = "write_timeout"
POOL_TIMEOUT = "pool_timeout"
SERVER_DISCONNECTED = "server_disconnected"
REMOTE_PROTOCOL_ERROR = "remote_protocol_error"
RESET = "reset"
READ_ERROR = "read_error"
WRITE_ERROR = "write_error"
TLS_ERROR = "tls_error"
OTHER = "other"

ERROR_KINDS: tuple[str, ...] = (
    CONNECT_REFUSED,
    CONNECT_TIMEOUT,
    CONNECT_ERROR,
    READ_TIMEOUT,
    WRITE_TIMEOUT,
    POOL_TIMEOUT,
    SERVER_DISCONNECTED,
    REMOTE_PROTOCOL_ERROR,
    RESET,
    READ_ERROR,
    WRITE_ERROR,
    TLS_ERROR,
    OTHER,
)


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from, outermost first (cycle-safe)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 16:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _has(exc: BaseException, kind: type[BaseException]) -> bool:
    return any(isinstance(item, kind) for item in _causes(exc))


def classify(exc: BaseException) -> str:
    """Return the error kind of an exception raised by an httpx request."""
    reset = _has(exc, ConnectionResetError) or _has(exc, BrokenPipeError)
    if isinstance(exc, httpx.ConnectTimeout):
        return CONNECT_TIMEOUT
    if isinstance(exc, httpx.ReadTimeout):
        return READ_TIMEOUT
    if isinstance(exc, httpx.WriteTimeout):
        return WRITE_TIMEOUT
    if isinstance(exc, httpx.PoolTimeout):
        return POOL_TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        if _has(exc, ConnectionRefusedError) or "refused" in str(exc).lower():
            return CONNECT_REFUSED
        if reset:
            return RESET
        if _has(exc, ssl.SSLError):
            return TLS_ERROR
        return CONNECT_ERROR
    if isinstance(exc, httpx.RemoteProtocolError):
        if reset:
            return RESET
        if "disconnected" in str(exc).lower():
            return SERVER_DISCONNECTED
        return REMOTE_PROTOCOL_ERROR
    if reset or "connection reset" in str(exc).lower():
        return RESET
    if isinstance(exc, httpx.ReadError):
        return READ_ERROR
    if isinstance(exc, httpx.WriteError):
        return WRITE_ERROR
    return OTHER
