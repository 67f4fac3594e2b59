"""A raw HTTP/1.1 server with odd manners: ``closing_server.py fin|rst|hang|chunked|eof``.

``fin`` and ``rst`` kill reused keep-alive connections: each connection gets one proper
answer (keep-alive); a second request on the same connection is read and then the connection
is closed without an answer, with ``fin`` politely, with ``rst`` by a TCP reset. That is what
a client sees when it reuses a pooled connection to a pod that is going away.

The other modes answer every request, in a way the probe's own HTTP client must handle:
``hang`` reads the request and never answers; ``chunked`` answers with a chunked body split
over several writes (keep-alive); ``eof`` answers without a length and closes the connection
to end the body. Prints ``PORT <n>`` once it listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
from collections.abc import Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
BODY = json.dumps({"status": "ok", "version": "0.0.1", "revision": "raw", "pod": "raw"}).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + f"content-length: {len(BODY)}\r\n\r\n".encode()
    + BODY
)
HEAD_CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
)
HEAD_EOF = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
HANG_S = 30.0  # far beyond the tests' --timeout; the server is killed at the end anyway


async def _answer_oddly(mode: str, writer: asyncio.StreamWriter) -> bool:
    """Answer in ``mode``; return whether the connection stays open for another request."""
    if mode == "hang":
        await asyncio.sleep(HANG_S)
        return False
    if mode == "chunked":
        writer.write(HEAD_CHUNKED)
        half = len(BODY) // 2
        for part in (BODY[:half], BODY[half:]):
            writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
    writer.write(HEAD_EOF + BODY[:10])
    await writer.drain()
    await asyncio.sleep(0.01)
    writer.write(BODY[10:])
    await writer.drain()
    return False


def make_handler(mode: str) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if mode not in ("fin", "rst"):
                    if not await _answer_oddly(mode, writer):
                        break
                    continue
                if served:
                    if mode == "rst":
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    break
                writer.write(RESPONSE)
                await writer.drain()
                served += 1
                if b"connection: close" in head.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handle


async def main(mode: str) -> None:
    server = await asyncio.start_server(make_handler(mode), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
