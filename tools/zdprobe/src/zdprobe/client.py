"""A minimal HTTP/1.1 client on asyncio: one GET at a time per connection, nothing else.

It does what the probe needs and no more: keep-alive or one connection per request, TLS,
Content-Length / chunked / read-until-close bodies, a per-phase timeout (connect; then no
byte written or read for ``timeout`` seconds), and precise errors (``zdprobe.errors``) for
every way a connection can break. No proxies, no redirects, no compression, no retries: the
probe measures the target itself.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from zdprobe.errors import (
    DISCONNECTED_MESSAGE,
    ConnectError,
    ConnectTimeout,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    TransportError,
    WriteError,
    WriteTimeout,
)

MAX_HEAD_BYTES = 64 * 1024
INCOMPLETE_MESSAGE = "peer closed connection without sending complete message body"
DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left as they are in the request target; anything else is percent-encoded.
_SAFE_TARGET = "/?&=%:@!$'()*+,;~[]"


class Response:
    """Status, headers (names lower-cased; repeated headers joined by ", ") and body."""

    __slots__ = ("content", "headers", "keep_alive", "status_code")

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        content: bytes = b"",
        *,
        keep_alive: bool = True,
    ) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}
        items = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in items:
            key = name.lower()
            self.headers[key] = f"{self.headers[key]}, {value}" if key in self.headers else value
        self.content = content
        self.keep_alive = keep_alive

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {len(self.content)} bytes>"


@dataclass(frozen=True)
class Target:
    """Where the requests go and the fixed part of every request."""

    host: str  # connect to this (name or address)
    port: int
    host_header: str
    prefix: str  # path prefix of the base URL, without a trailing /
    ssl_context: ssl.SSLContext | None
    server_hostname: str | None  # TLS: SNI and the name the certificate must match
    authorization: str | None = None
    family: int | None = None  # set when host is an IP address: nothing to look up

    @classmethod
    def from_url(
        cls, url: str, *, host_header: str | None = None, verify_tls: bool = True
    ) -> Target:
        parts = urlsplit(url)
        scheme = parts.scheme
        hostname = parts.hostname or ""
        ascii_host = hostname.encode("idna").decode("ascii") if not hostname.isascii() else hostname
        port = parts.port or DEFAULT_PORTS[scheme]
        if host_header is None:
            shown = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
            default_port = parts.port in (None, DEFAULT_PORTS[scheme])
            host_header = shown if default_port else f"{shown}:{port}"
        context: ssl.SSLContext | None = None
        server_hostname: str | None = None
        if scheme == "https":
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            if not verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            # Behind an ingress the Host header names the site, and so does TLS (SNI).
            server_hostname = _strip_port(host_header) if host_header else ascii_host
        authorization = None
        if parts.username is not None:
            user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(user_pass.encode()).decode("ascii")
        try:
            ip = ipaddress.ip_address(ascii_host)
            family: int | None = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        except ValueError:
            family = None
        return cls(
            host=ascii_host,
            port=port,
            host_header=host_header,
            prefix=parts.path.rstrip("/"),
            ssl_context=context,
            server_hostname=server_hostname,
            authorization=authorization,
            family=family,
        )

    def request(self, path: str, *, close: bool) -> bytes:
        """The bytes of ``GET prefix+path``; ``close`` asks for one request per connection."""
        lines = [
            f"GET {quote(self.prefix + path, safe=_SAFE_TARGET)} HTTP/1.1",
            f"Host: {self.host_header}",
            "User-Agent: zdprobe",
            "Accept: application/json",
        ]
        if self.authorization is not None:
            lines.append(f"Authorization: {self.authorization}")
        if close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class _Head:
    __slots__ = ("body_start", "chunked", "headers", "keep_alive", "length", "status")

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body_start: int,
        length: int | None,
        chunked: bool,
        keep_alive: bool,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body_start = body_start
        self.length = length  # None with chunked or read-until-close
        self.chunked = chunked
        self.keep_alive = keep_alive


def _parse_head(buf: bytearray, end: int) -> _Head:
    try:
        text = bytes(buf[:end]).decode("latin-1")
        status_line, *lines = text.split("\r\n")
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ValueError(f"illegal status line: {status_line[:80]!r}")
        status = int(code)
        headers: list[tuple[str, str]] = []
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise ValueError(f"illegal header line: {line[:80]!r}")
            headers.append((name.lower(), value.strip()))
    except ValueError as exc:
        raise RemoteProtocolError(str(exc)) from None
    connection = {
        token.strip().lower()
        for name, value in headers
        if name == "connection"
        for token in value.split(",")
    }
    keep_alive = "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
    chunked = any(
        name == "transfer-encoding" and "chunked" in value.lower() for name, value in headers
    )
    length: int | None = None
    if status < 200 or status in (204, 304):
        length = 0
    elif not chunked:
        lengths = {value for name, value in headers if name == "content-length"}
        if len(lengths) > 1 or any(not v.isdigit() for v in lengths):
            raise RemoteProtocolError(f"illegal content-length: {sorted(lengths)!r}")
        if lengths:
            length = int(lengths.pop())
        else:
            keep_alive = False  # the body ends when the server closes the connection
    return _Head(status, headers, end + 4, length, chunked, keep_alive)


def _chunked_end(buf: bytearray, start: int) -> tuple[int, bytes] | None:
    """(end of the message, decoded body) once a chunked body is complete, else None."""
    body = bytearray()
    pos = start
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size_text = bytes(buf[pos:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise RemoteProtocolError(f"illegal chunk size: {size_text[:20]!r}") from None
        pos = line_end + 2
        if size == 0:
            if buf[pos : pos + 2] == b"\r\n":
                return pos + 2, bytes(body)
            trailer_end = buf.find(b"\r\n\r\n", pos)
            return None if trailer_end < 0 else (trailer_end + 4, bytes(body))
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos : pos + size]
        pos += size + 2


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; ``request()`` sends a GET and waits for the whole answer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.head: _Head | None = None
        self.eof = False
        self.lost = False
        self.spoiled = False  # data nobody asked for, or an answer that ends the connection
        self.limit_s = 0.0
        self.last_activity = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.spoiled = True
            return
        self.buf += data
        self.last_activity = self.loop.time()
        try:
            self._try_complete(eof=False)
        except TransportError as exc:
            self._fail(exc)

    def eof_received(self) -> bool:
        self.eof = True
        if self.waiter is not None and not self.waiter.done():
            try:
                self._try_complete(eof=True)
            except TransportError as exc:
                self._fail(exc)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is None or self.waiter.done():
            return
        if exc is None:
            try:
                self._try_complete(eof=True)
            except TransportError as error:
                self._fail(error)
            return
        broken = ReadError(str(exc) or type(exc).__name__)
        broken.__cause__ = exc  # a reset stays visible to classify()
        self._fail(broken)

    # the client side
    @property
    def reusable(self) -> bool:
        transport = self.transport
        return not (
            self.lost or self.eof or self.spoiled or transport is None or transport.is_closing()
        )

    def arm(self, limit_s: float) -> None:
        """Expect an answer from now on: the request is on its way.

        The answer fails with ReadTimeout (WriteTimeout while the request is not all sent)
        once no byte has moved for ``limit_s`` seconds: httpx's read and write timeouts,
        not a deadline for the whole answer.
        """
        self.waiter = self.loop.create_future()
        self.buf.clear()
        self.head = None
        self.limit_s = limit_s
        self.last_activity = self.loop.time()
        self.timer = self.loop.call_at(self.last_activity + limit_s, self._on_timer)

    def disarm(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and waiter.done() and not waiter.cancelled():
            waiter.exception()  # retrieved: no "exception was never retrieved" warning
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def response(self) -> Response:
        """The answer to the request sent after ``arm()``."""
        waiter = self.waiter
        if waiter is None:
            raise RuntimeError("no request is waiting for an answer")
        try:
            return await waiter
        finally:
            self.disarm()

    async def request(self, data: bytes, limit_s: float) -> Response:
        """Send ``data`` (a whole request) on this open connection and return the answer."""
        transport = self.transport
        if transport is None or not self.reusable:
            raise RemoteProtocolError(DISCONNECTED_MESSAGE)
        self.arm(limit_s)
        transport.write(data)
        return await self.response()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _on_timer(self) -> None:
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        idle = self.loop.time() - self.last_activity
        if idle < self.limit_s:
            self.timer = self.loop.call_at(self.last_activity + self.limit_s, self._on_timer)
            return
        transport = self.transport
        unsent = transport.get_write_buffer_size() if transport is not None else 0
        message = f"no progress for {self.limit_s:g}s"
        self._fail(WriteTimeout(message) if unsent else ReadTimeout(message))

    def _fail(self, exc: TransportError) -> None:
        self.spoiled = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def _try_complete(self, *, eof: bool) -> None:
        """Resolve the waiter once the answer is complete; raise when it never can be."""
        buf = self.buf
        head = self.head
        while head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    raise RemoteProtocolError("response head larger than 64 KiB")
                if eof:
                    raise RemoteProtocolError(
                        DISCONNECTED_MESSAGE if not buf else "peer closed during the head"
                    )
                return
            head = _parse_head(buf, end)
            if 100 <= head.status < 200 and head.status != 101:  # interim answer: skip it
                del buf[: head.body_start]
                head = None
        self.head = head
        start = head.body_start
        if head.chunked:
            done = _chunked_end(buf, start)
            if done is None:
                if eof:
                    raise RemoteProtocolError(INCOMPLETE_MESSAGE)
                return
            end, body = done
        elif head.length is not None:
            end = start + head.length
            if len(buf) < end:
                if eof:
                    raise RemoteProtocolError(INCOMPLETE_MESSAGE)
                return
            body = bytes(buf[start:end])
        else:
            if not eof:
                return
            end = len(buf)
            body = bytes(buf[start:])
        if len(buf) > end or not head.keep_alive:
            self.spoiled = True  # pipelined garbage, or the server ends the connection
        assert self.waiter is not None
        response = Response(head.status, head.headers, body, keep_alive=head.keep_alive)
        self.waiter.set_result(response)


async def _addresses(target: Target) -> list[tuple[int, tuple[Any, ...]]]:
    """(family, socket address) to try, in order; an IP address is not looked up."""
    if target.family is not None:
        return [(target.family, (target.host, target.port))]
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [(family, address) for family, _, _, _, address in infos]


async def _tcp(target: Target) -> socket.socket:
    """A connected non-blocking TCP socket (the first address that accepts)."""
    loop = asyncio.get_running_loop()
    errors: list[OSError] = []
    for family, address in await _addresses(target):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    if not errors:
        raise OSError(f"no address for {target.host}")
    # an address that refuses tells most about the target (localhost: ::1 then 127.0.0.1)
    refused = [exc for exc in errors if isinstance(exc, ConnectionRefusedError)]
    raise (refused or errors)[0]


async def connect(target: Target, limit_s: float, data: bytes) -> Connection:
    """Open a connection within ``limit_s`` seconds and send ``data``, the first request.

    Over plain TCP the request goes out the moment the connection is up, before asyncio
    wraps the socket in a transport: as soon as a blocking client would send it (a server
    that closes the connections it has not read from yet, such as uvicorn in its graceful
    shutdown, would otherwise catch the probe in a gap no real client has). Await the
    answer with ``response()``.
    """
    loop = asyncio.get_running_loop()
    protocol = Connection(loop)
    try:
        async with asyncio.timeout(limit_s):
            sock = await _tcp(target)
            try:
                if target.ssl_context is None:
                    protocol.arm(limit_s)
                    try:
                        sent = sock.send(data)
                    except BlockingIOError:
                        sent = 0
                    except OSError as exc:
                        raise WriteError(str(exc) or type(exc).__name__) from exc
                    await loop.create_connection(lambda: protocol, sock=sock)
                    if sent < len(data) and protocol.transport is not None:
                        protocol.transport.write(data[sent:])
                else:
                    await loop.create_connection(
                        lambda: protocol,
                        sock=sock,
                        ssl=target.ssl_context,
                        server_hostname=target.server_hostname,
                    )
                    protocol.arm(limit_s)
                    assert protocol.transport is not None
                    protocol.transport.write(data)
            except BaseException:
                protocol.disarm()
                if protocol.transport is not None:
                    protocol.transport.abort()
                sock.close()
                raise
    except TimeoutError as exc:  # ours, or the kernel's ETIMEDOUT
        raise ConnectTimeout(str(exc) or f"no connection within {limit_s:g}s") from exc
    except ssl.SSLError as exc:
        raise ConnectError(f"TLS: {exc}") from exc
    except OSError as exc:  # refused, reset, unreachable, no such name...
        raise ConnectError(str(exc) or type(exc).__name__) from exc
    return protocol
