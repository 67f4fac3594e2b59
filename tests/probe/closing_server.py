"""A raw HTTP/1.1 server that kills reused keep-alive connections: ``closing_server.py fin|rst``.

Each connection gets one proper answer (keep-alive). A second request on the same connection
is read and then the connection is closed without an answer: with ``fin`` politely, with
``rst`` by a TCP reset. That is what a client sees when it reuses a pooled connection to a
pod that is going away. Prints ``PORT <n>`` once it listens on 127.0.0.1.
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


def make_handler(mode: str) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
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
