"""The probe's HTTP/1.1 client without a network: requests as bytes, answers fed by hand."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
from zdprobe import engine
from zdprobe.client import Connection, Response, Target
from zdprobe.errors import classify
from zdprobe.report import percentile

OK_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
BODY = b'{"version": "0.0.2"}'


class FakeTransport(asyncio.Transport):
    """Records what the client writes; nothing goes anywhere."""

    def __init__(self, unsent: int = 0) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False
        self.aborted = False
        self.unsent = unsent

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def get_write_buffer_size(self) -> int:
        return self.unsent


Feed = list[bytes | str]  # bytes: data from the server; "eof"; "reset"; "lost"; "pause"


async def _exchange(feed: Feed, limit_s: float = 5.0, unsent: int = 0) -> tuple[object, bool]:
    """(Response or the exception raised, whether the connection could be reused)."""
    conn = Connection(asyncio.get_running_loop())
    transport = FakeTransport(unsent)
    conn.connection_made(transport)
    task = asyncio.ensure_future(conn.request(b"GET / HTTP/1.1\r\n\r\n", limit_s))
    await asyncio.sleep(0)
    assert bytes(transport.written) == b"GET / HTTP/1.1\r\n\r\n"
    for item in feed:
        if item == "eof":
            conn.eof_received()
            conn.connection_lost(None)
        elif item == "reset":
            conn.connection_lost(ConnectionResetError(104, "Connection reset by peer"))
        elif item == "pause":
            await asyncio.sleep(0.03)
        elif isinstance(item, bytes):
            conn.data_received(item)
    try:
        outcome: object = await asyncio.wait_for(task, 10)
    except Exception as exc:
        outcome = exc
    return outcome, conn.reusable


def exchange(feed: Feed, limit_s: float = 5.0, unsent: int = 0) -> tuple[object, bool]:
    return asyncio.run(_exchange(feed, limit_s, unsent))


def answer(feed: Feed, **kwargs: float) -> tuple[Response, bool]:
    outcome, reusable = exchange(feed, **kwargs)  # type: ignore[arg-type]
    assert isinstance(outcome, Response), outcome
    return outcome, reusable


def error_kind(feed: Feed, **kwargs: float) -> str:
    outcome, reusable = exchange(feed, **kwargs)  # type: ignore[arg-type]
    assert isinstance(outcome, Exception), outcome
    assert not reusable
    return classify(outcome)


def test_content_length_split_anywhere() -> None:
    whole = OK_HEAD + f"content-length: {len(BODY)}\r\n\r\n".encode() + BODY
    for cut in (1, 10, len(OK_HEAD) + 5, len(whole) - len(BODY) - 2, len(whole) - 1):
        response, reusable = answer([whole[:cut], whole[cut:]])
        assert (response.status_code, response.content, reusable) == (200, BODY, True)
        assert response.headers["content-type"] == "application/json"


def test_chunked_body_with_extension_and_trailer() -> None:
    chunks = b"5;ext=1\r\n" + BODY[:5] + b"\r\n" + f"{len(BODY) - 5:x}\r\n".encode()
    chunks += BODY[5:] + b"\r\n0\r\nx-trailer: 1\r\n\r\n"
    head = OK_HEAD + b"transfer-encoding: chunked\r\n\r\n"
    response, reusable = answer([head + chunks[:7], chunks[7:20], chunks[20:]])
    assert (response.content, reusable) == (BODY, True)
    response, _ = answer([head + b"0\r\n\r\n"])
    assert response.content == b""


def test_body_until_close_and_connection_close() -> None:
    response, reusable = answer([OK_HEAD + b"\r\n" + BODY[:4], BODY[4:], "eof"])
    assert (response.content, reusable) == (BODY, False)
    head = OK_HEAD + b"connection: close\r\ncontent-length: 0\r\n\r\n"
    assert answer([head])[1] is False
    http10 = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"
    assert answer([http10])[1] is False
    http10_keep = b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok"
    assert answer([http10_keep])[1] is True


def test_interim_and_bodiless_answers() -> None:
    response, reusable = answer(
        [b"HTTP/1.1 100 Continue\r\n\r\n", OK_HEAD + b"content-length: 2\r\n\r\nok"]
    )
    assert (response.status_code, response.content, reusable) == (200, b"ok", True)
    response, reusable = answer([b"HTTP/1.1 204 No Content\r\n\r\n"])
    assert (response.status_code, response.content, reusable) == (204, b"", True)
    response, _ = answer([b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"])
    assert response.status_code == 503


def test_repeated_headers_are_joined_and_names_lowered() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Pod: a\r\nx-pod: b\r\nContent-Length: 0\r\n\r\n"
    response, _ = answer([head])
    assert response.headers["x-pod"] == "a, b"
    assert Response(200, {"X-App-Version": "1"}).headers == {"x-app-version": "1"}


def test_data_nobody_asked_for_spoils_the_connection() -> None:
    whole = OK_HEAD + b"content-length: 2\r\n\r\nok"
    response, reusable = answer([whole + b"HTTP/1.1 200 OK\r\n"])
    assert (response.content, reusable) == (b"ok", False)


@pytest.mark.parametrize(
    ("feed", "kind"),
    [
        (["eof"], "server_disconnected"),  # a pooled connection closed by a dying pod
        (["reset"], "reset"),
        ([OK_HEAD[:10], "eof"], "remote_protocol_error"),  # cut in the head
        ([OK_HEAD + b"content-length: 10\r\n\r\nabc", "eof"], "remote_protocol_error"),
        ([OK_HEAD + b"content-length: 10\r\n\r\nabc", "reset"], "reset"),
        ([OK_HEAD + b"transfer-encoding: chunked\r\n\r\n5\r\nab", "eof"], "remote_protocol_error"),
        ([OK_HEAD + b"transfer-encoding: chunked\r\n\r\nzz\r\n"], "remote_protocol_error"),
        ([b"SSH-2.0-OpenSSH_9.2\r\n\r\n"], "remote_protocol_error"),
        ([OK_HEAD + b"content-length: twelve\r\n\r\n"], "remote_protocol_error"),
        ([OK_HEAD + b"content-length: 1\r\ncontent-length: 2\r\n\r\n"], "remote_protocol_error"),
        ([b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"], "remote_protocol_error"),
        ([b"x" * (65 * 1024)], "remote_protocol_error"),
    ],
)
def test_broken_answers(feed: Feed, kind: str) -> None:
    assert error_kind(feed) == kind


def test_timeouts_are_per_phase_not_a_deadline() -> None:
    assert error_kind([], limit_s=0.05) == "read_timeout"
    assert error_kind([], limit_s=0.05, unsent=100) == "write_timeout"
    # an answer that trickles in, each piece within the limit, is not a timeout
    whole = OK_HEAD + b"content-length: 2\r\n\r\nok"
    feed: Feed = []
    for piece in (whole[:10], whole[10:30], whole[30:]):
        feed += ["pause", piece]
    response, _ = answer(feed, limit_s=0.1)
    assert response.content == b"ok"


def test_request_bytes() -> None:
    target = Target.from_url("http://127.0.0.1:8000/api/")
    assert target.request("/health?x=1", close=False) == (
        b"GET /api/health?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: zdprobe\r\n"
        b"Accept: application/json\r\n\r\n"
    )
    assert target.request("/health", close=True).endswith(b"\r\nConnection: close\r\n\r\n")
    assert b"GET /api/h%C3%A9llo%20x HTTP/1.1" in target.request("/héllo x", close=False)
    assert (target.host, target.port, target.ssl_context) == ("127.0.0.1", 8000, None)
    assert target.family == socket.AF_INET  # an address: nothing to look up
    assert Target.from_url("http://[::1]:8000").family == socket.AF_INET6
    assert Target.from_url("http://localhost:8000").family is None


@pytest.mark.parametrize(
    ("url", "host_header", "connect", "host_line"),
    [
        ("http://example.test", None, ("example.test", 80), "example.test"),
        ("http://example.test:80/", None, ("example.test", 80), "example.test"),
        ("http://[::1]:8080", None, ("::1", 8080), "[::1]:8080"),
        ("http://127.0.0.1:30090", "fastapi-app.local", ("127.0.0.1", 30090), "fastapi-app.local"),
        ("http://127.0.0.1:30090", "site.local:8080", ("127.0.0.1", 30090), "site.local:8080"),
    ],
)
def test_host_header(
    url: str, host_header: str | None, connect: tuple[str, int], host_line: str
) -> None:
    target = Target.from_url(url, host_header=host_header)
    assert (target.host, target.port) == connect
    for close in (False, True):
        lines = target.request("/health", close=close).decode().split("\r\n")
        assert [line for line in lines if line.lower().startswith("host:")] == [
            f"Host: {host_line}"
        ]


def test_tls_names_and_verification() -> None:
    plain = Target.from_url("https://example.test")
    assert (plain.port, plain.host_header, plain.server_hostname) == (
        443,
        "example.test",
        "example.test",
    )
    assert plain.ssl_context is not None
    assert plain.ssl_context.verify_mode == ssl.CERT_REQUIRED
    # through an ingress: TLS names the site too (SNI, certificate check)
    site = Target.from_url("https://127.0.0.1:30443", host_header="site.local:30443")
    assert (site.host, site.server_hostname) == ("127.0.0.1", "site.local")
    insecure = Target.from_url("https://127.0.0.1:30443", verify_tls=False)
    assert insecure.ssl_context is not None
    assert insecure.ssl_context.verify_mode == ssl.CERT_NONE
    assert not insecure.ssl_context.check_hostname


def test_basic_auth_from_the_url() -> None:
    target = Target.from_url("http://user:p%40ss@127.0.0.1:8000")
    assert b"Authorization: Basic dXNlcjpwQHNz\r\n" in target.request("/", close=False)
    assert target.host_header == "127.0.0.1:8000"


@pytest.mark.parametrize("size", [1, 2, 7, 99, 100, 101, 1000, 4321])
def test_live_p99_is_the_nearest_rank_p99(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    values = [(i * 7919 % 1009) / 7.0 for i in range(size)]  # shuffled, with repeats
    assert engine.live_p99(values) == percentile(sorted(values), 99)
    monkeypatch.setattr(engine, "LIVE_P99_WINDOW", 50)
    assert engine.live_p99(values) == percentile(sorted(values[-50:]), 99)
    assert engine.live_p99([]) is None
