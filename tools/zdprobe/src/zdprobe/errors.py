"""Turn a failed HTTP exchange into one stable, countable error kind.

The probe's HTTP/1.1 client (``zdprobe.client``) raises the exceptions below, each chained
(``raise ... from``) to the socket error that caused it, if any. The hierarchy follows the
names of httpx's, which the probe used before it had a client of its own.
"""

from __future__ import annotations

import ssl

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

DISCONNECTED_MESSAGE = "Server disconnected without sending a response."


class TransportError(Exception):
    """A request that got no complete HTTP answer."""


class TimeoutException(TransportError):
    pass


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class WriteTimeout(TimeoutException):
    pass


class PoolTimeout(TimeoutException):
    """Kept for the error kind; the probe's workers each own their connection."""


class NetworkError(TransportError):
    pass


class ConnectError(NetworkError):
    pass


class ReadError(NetworkError):
    pass


class WriteError(NetworkError):
    pass


class RemoteProtocolError(TransportError):
    """The server broke HTTP/1.1: closed before or during the answer, or sent garbage."""


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
    """Return the error kind of an exception raised by a probe request."""
    reset = _has(exc, ConnectionResetError) or _has(exc, BrokenPipeError)
    if isinstance(exc, ConnectTimeout):
        return CONNECT_TIMEOUT
    if isinstance(exc, ReadTimeout):
        return READ_TIMEOUT
    if isinstance(exc, WriteTimeout):
        return WRITE_TIMEOUT
    if isinstance(exc, PoolTimeout):
        return POOL_TIMEOUT
    if isinstance(exc, ConnectError):
        if _has(exc, ConnectionRefusedError) or "refused" in str(exc).lower():
            return CONNECT_REFUSED
        if reset:
            return RESET
        if _has(exc, ssl.SSLError):
            return TLS_ERROR
        return CONNECT_ERROR
    if isinstance(exc, RemoteProtocolError):
        if reset:
            return RESET
        if "disconnected" in str(exc).lower():
            return SERVER_DISCONNECTED
        return REMOTE_PROTOCOL_ERROR
    if reset or "connection reset" in str(exc).lower():
        return RESET
    if isinstance(exc, ReadError):
        return READ_ERROR
    if isinstance(exc, WriteError):
        return WRITE_ERROR
    return OTHER
