"""Ask one DNS server for one A record over UDP and print the first address.

usage: dns-query.py SERVER NAME   (exit 1 when there is no answer)
"""

import secrets
import socket
import struct
import sys


def query(server: str, name: str, timeout: float = 2.0) -> str | None:
    ident = secrets.randbelow(0xFFFF)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, 53))
        reply = sock.recv(512)
    if struct.unpack(">H", reply[:2])[0] != ident or struct.unpack(">H", reply[6:8])[0] == 0:
        return None
    offset = 12 + len(question) + 4
    while offset < len(reply):
        if reply[offset] & 0xC0 == 0xC0:  # compressed name
            offset += 2
        else:
            while reply[offset]:
                offset += reply[offset] + 1
            offset += 1
        rtype, _, _, length = struct.unpack(">HHIH", reply[offset : offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            return socket.inet_ntoa(reply[offset : offset + 4])
        offset += length
    return None


if __name__ == "__main__":
    try:
        address = query(sys.argv[1], sys.argv[2])
    except OSError as exc:
        sys.exit(f"no answer: {exc}")
    if address is None:
        sys.exit("no A record")
    print(address)
