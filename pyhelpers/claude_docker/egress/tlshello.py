"""The server name a tunnel's TLS ClientHello asks for (SNI), read before the tunnel carries anything.

A CONNECT to an allowed name is only a promise about the first hop: on a CDN's shared addresses, the TLS
server name picks the site. So a tunnel on port 443 to a name must open with a ClientHello whose server
name is that name, without Encrypted Client Hello (whose inner name nobody outside can read).
"""

from __future__ import annotations

import socket
import time

RECORD_HEADER = 5
MAX_RECORD = 16384 + 2048  # TLSPlaintext's limit, with room for what TLS 1.2 allowed
MAX_HELLO = 64 * 1024  # post-quantum key shares make hellos larger; none comes near this
HANDSHAKE, CLIENT_HELLO = 0x16, 0x01
EXT_SERVER_NAME, EXT_ECH = 0x0000, 0xFE0D


class NotHello(Exception):
    """The tunnel did not open with a well-formed TLS ClientHello (or not in time)."""


class Hello:
    __slots__ = ("ech", "raw", "server_name")

    def __init__(self, raw: bytes, server_name: str | None, ech: bool):
        self.raw, self.server_name, self.ech = raw, server_name, ech


def read(sock: socket.socket, first: bytes = b"", timeout: float = 30.0) -> Hello:
    """The ClientHello at the start of the tunnel (`first`: bytes the client already sent), with every byte
    read (`raw`, to send on as they came)."""
    deadline = time.monotonic() + timeout
    buf, pos, handshake = first, 0, b""

    def need(n: int) -> None:
        nonlocal buf
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NotHello("no TLS ClientHello in time")
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                raise NotHello("no TLS ClientHello in time") from None
            if not chunk:
                raise NotHello("the client closed before a TLS ClientHello")
            buf += chunk

    while True:
        need(pos + RECORD_HEADER)
        if buf[pos] != HANDSHAKE or buf[pos + 1] != 3:
            raise NotHello("not TLS")
        length = int.from_bytes(buf[pos + 3:pos + 5], "big")
        if not 0 < length <= MAX_RECORD:
            raise NotHello("not TLS")
        need(pos + RECORD_HEADER + length)
        handshake += buf[pos + RECORD_HEADER:pos + RECORD_HEADER + length]
        pos += RECORD_HEADER + length
        if len(handshake) >= 4:
            if handshake[0] != CLIENT_HELLO:
                raise NotHello("not a TLS ClientHello")
            size = int.from_bytes(handshake[1:4], "big")
            if size > MAX_HELLO:
                raise NotHello("TLS ClientHello too large")
            if len(handshake) >= 4 + size:
                name, ech = parse(handshake[4:4 + size])
                return Hello(buf, name, ech)


def parse(body: bytes) -> tuple[str | None, bool]:
    """(server name or None, whether Encrypted Client Hello is offered) of a ClientHello's body."""
    try:
        p = 2 + 32  # legacy_version, random
        p += 1 + body[p]  # session id
        p += 2 + int.from_bytes(body[p:p + 2], "big")  # cipher suites
        p += 1 + body[p]  # compression methods
        if p == len(body):
            return None, False
        end = p + 2 + int.from_bytes(body[p:p + 2], "big")
        if end > len(body):
            raise NotHello("malformed TLS ClientHello")
        p += 2
        name, ech = None, False
        while p + 4 <= end:
            kind, size = int.from_bytes(body[p:p + 2], "big"), int.from_bytes(body[p + 2:p + 4], "big")
            data = body[p + 4:p + 4 + size]
            p += 4 + size
            if kind == EXT_ECH:
                ech = True
            elif kind == EXT_SERVER_NAME:
                q, stop = 2, 2 + int.from_bytes(data[0:2], "big")
                while q + 3 <= stop:
                    name_type, length = data[q], int.from_bytes(data[q + 1:q + 3], "big")
                    if name_type == 0:
                        name = data[q + 3:q + 3 + length].decode("ascii")
                    q += 3 + length
        return name, ech
    except (IndexError, UnicodeDecodeError):
        raise NotHello("malformed TLS ClientHello") from None
