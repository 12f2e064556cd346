"""The server name a tunnel's TLS ClientHello asks for (SNI), read before the tunnel carries anything.

A CONNECT to an allowed name is only a promise about the first hop: on a CDN's shared addresses, the TLS
server name picks the site. So a tunnel on port 443 to a name must open with a ClientHello whose one server
name is that name, without Encrypted Client Hello (whose inner name nobody outside can read). When the
server answers with a HelloRetryRequest, the client's second ClientHello is held to the same rule: OpenSSL
servers pick the site again from it.
"""

from __future__ import annotations

import socket
import time

RECORD_HEADER = 5
MAX_RECORD = 16384 + 2048  # TLSPlaintext's limit, with room for what TLS 1.2 allowed
MAX_HELLO = 64 * 1024  # post-quantum key shares make hellos larger; none comes near this
CHANGE_CIPHER_SPEC, HANDSHAKE, CLIENT_HELLO, SERVER_HELLO = 0x14, 0x16, 0x01, 0x02
# RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest.
RETRY_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
EXT_SERVER_NAME, EXT_ECH = 0x0000, 0xFE0D


class NotHello(Exception):
    """The tunnel did not open with a well-formed TLS ClientHello (or not in time)."""


class Hello:
    __slots__ = ("ech", "raw", "server_name")

    def __init__(self, raw: bytes, server_name: str | None, ech: bool):
        self.raw, self.server_name, self.ech = raw, server_name, ech


class _Records:
    """TLS records read from a socket, every byte kept (`raw`) to be sent on as it came."""

    def __init__(self, sock: socket.socket, first: bytes, timeout: float, what: str):
        self.sock, self.raw, self.pos, self.what = sock, first, 0, what
        self.deadline = time.monotonic() + timeout

    def _need(self, n: int) -> None:
        while len(self.raw) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise NotHello(f"no TLS {self.what} in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise NotHello(f"no TLS {self.what} in time") from None
            if not chunk:
                raise NotHello(f"closed before a TLS {self.what}")
            self.raw += chunk

    def handshake(self, wanted: int, enough) -> bytes:
        """Handshake bytes, record after record (ChangeCipherSpec ones skipped), until `enough(data)`."""
        data = b""
        while not enough(data):
            self._need(self.pos + RECORD_HEADER)
            kind, major = self.raw[self.pos], self.raw[self.pos + 1]
            length = int.from_bytes(self.raw[self.pos + 3:self.pos + 5], "big")
            if kind not in (HANDSHAKE, CHANGE_CIPHER_SPEC) or major != 3 or not 0 < length <= MAX_RECORD:
                raise NotHello("not TLS")
            self._need(self.pos + RECORD_HEADER + length)
            if kind == HANDSHAKE:
                data += self.raw[self.pos + RECORD_HEADER:self.pos + RECORD_HEADER + length]
            self.pos += RECORD_HEADER + length
            if data and data[0] != wanted:
                raise NotHello(f"not a TLS {self.what}")
            if len(data) > 4 + MAX_HELLO:
                raise NotHello(f"TLS {self.what} too large")
        return data


def read(sock: socket.socket, first: bytes = b"", timeout: float = 30.0) -> Hello:
    """The ClientHello at the start of the tunnel (`first`: bytes the client already sent), with every byte
    read (`raw`, to send on as they came)."""
    records = _Records(sock, first, timeout, "ClientHello")

    def whole(data: bytes) -> bool:
        return len(data) >= 4 and len(data) >= 4 + int.from_bytes(data[1:4], "big")

    data = records.handshake(CLIENT_HELLO, whole)
    name, ech = parse(data[4:4 + int.from_bytes(data[1:4], "big")])
    return Hello(records.raw, name, ech)


def server_answer(sock: socket.socket, timeout: float = 30.0) -> tuple[bytes, bool]:
    """The server's first bytes (up to its ServerHello's random) and whether they are a HelloRetryRequest.
    Anything else than a ServerHello (an alert, say) is passed on as it is: it ends the handshake."""
    records = _Records(sock, b"", timeout, "ServerHello")
    try:
        data = records.handshake(SERVER_HELLO, lambda d: len(d) >= 4 + 2 + 32)
    except NotHello:
        return records.raw, False
    return records.raw, data[6:38] == RETRY_RANDOM


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
                        if name is not None:  # servers differ on which of several they take: none is held
                            raise NotHello("several TLS server names")
                        name = data[q + 3:q + 3 + length].decode("ascii")
                    q += 3 + length
        return name, ech
    except (IndexError, UnicodeDecodeError):
        raise NotHello("malformed TLS ClientHello") from None
