"""One proxy request head: read from the client, checked, and (for plain HTTP) rewritten for the origin.

Two forms are proxied: `CONNECT host:port` (a tunnel: TLS whose server name is the host checked, or
anything on a port the user named) and an absolute-form `http://host[:port]/path` request. The rewritten
plain request says `Connection: close` and keeps its framing headers: what follows it on the connection
reaches the same origin and nothing else (the origin's own virtual hosts are the origin's business).
"""

from __future__ import annotations

import re
import socket
import time

from claude_docker.egress.allowlist import normal_host

MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
HEAD_TIMEOUT = 30.0

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VERSION = re.compile(r"HTTP/1\.[01]")
_BAD_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# Framing: never dropped because `Connection` names them (the origin would split the body otherwise).
_FRAMING = {"content-length", "transfer-encoding"}
MAX_METHOD = 24  # longer than any method there is (PROPPATCH, UPDATEREDIRECTREF)
QUOTED = 80  # of the client's text, at most this much is quoted in a reason (events, the 400's body)
# Hop-by-hop headers (RFC 9110 7.6.1) and the proxy's own: never passed to the origin.
_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade", "host"}


def quoted(text: str) -> str:
    """The client's text as a reason quotes it: short, and without a user:password@ it may carry."""
    if "@" in text:
        text = "…@" + text.rpartition("@")[2]
    return repr(text[:QUOTED] + ("…" if len(text) > QUOTED else ""))


class HeadError(Exception):
    """The head can't be served: `status` (400, 408, 431) and a short reason for the response body."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class Request:
    """A checked request: method, host (normalised, unbracketed), port, and for a plain request the head
    to send to the origin (`head`; None for CONNECT). `rest` is what the client sent after the head."""

    __slots__ = ("head", "host", "method", "port", "rest")

    def __init__(self, method: str, host: str, port: int, head: bytes | None, rest: bytes = b""):
        self.method, self.host, self.port, self.head, self.rest = method, host, port, head, rest

    @property
    def connect(self) -> bool:
        return self.head is None


def read_head(sock: socket.socket, limit: int = MAX_HEAD, timeout: float = HEAD_TIMEOUT) -> tuple[bytes, bytes]:
    """(head without its blank line, bytes after it). HeadError: 431 past `limit`, 408 after `timeout`
    seconds in all, 400 if the client closes first."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        end = data.find(b"\r\n\r\n")
        if end > limit or (end < 0 and len(data) > limit):
            raise HeadError(431, "request head too large")
        if end >= 0:
            return data[:end], data[end + 4:]
        left = deadline - time.monotonic()
        if left <= 0:
            raise HeadError(408, "timed out reading the request head")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise HeadError(408, "timed out reading the request head") from None
        if not chunk:
            raise HeadError(400, "the client closed before a whole request head")
        data += chunk


def _authority(text: str, default_port: int | None) -> tuple[str, int]:
    """host and port of `host:port` or `[v6]:port` (the port may be left out when there is a default)."""
    if text.startswith("["):
        end = text.find("]")
        host, rest = (text[1:end], text[end + 1:]) if end > 0 else ("", "!")
        if rest and not rest.startswith(":"):
            raise HeadError(400, "bad authority")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_raw = text.rpartition(":") if ":" in text else (text, "", "")
        port_text = port_text_raw if sep else None
        if ":" in host:
            raise HeadError(400, "an IPv6 address is written in brackets")
    if port_text is None:
        if default_port is None:
            raise HeadError(400, "CONNECT needs host:port")
        port = default_port
    elif port_text.isdigit() and len(port_text) <= 5 and 1 <= int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise HeadError(400, "bad port (1-65535)")  # the text is not quoted: it may be half a password
    try:
        host, _kind = normal_host(host)
    except ValueError:
        raise HeadError(400, f"not a host name or address: {quoted(host)}") from None
    return host, port


def parse(head: bytes, rest: bytes = b"") -> Request:
    """The request in `head` (as read_head returns it). HeadError(400) if it is not a proxy request this
    proxy serves, HeadError(431) for too many headers."""
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    if len(lines) - 1 > MAX_HEADERS:
        raise HeadError(431, f"more than {MAX_HEADERS} header fields")
    for line in lines:
        if _BAD_CHARS.search(line):
            raise HeadError(400, "control characters in the request head")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not _VERSION.fullmatch(parts[2]):
        raise HeadError(400, "malformed request line")
    if len(parts[0]) > MAX_METHOD:
        raise HeadError(400, "method name too long")  # (it goes into every record of the request)
    method, target, version = parts
    fields = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            raise HeadError(400, "folded header lines are not accepted")
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise HeadError(400, "malformed header field")
        fields.append((name, value.strip(" \t")))
    if method == "CONNECT":
        host, port = _authority(target, None)
        return Request(method, host, port, None, rest)
    scheme, sep, after = target.partition("://")
    if not sep or "/" in scheme:
        raise HeadError(400, "not a proxy request (the target must be an absolute http:// URL)")
    scheme = scheme.lower()
    if scheme == "https":
        raise HeadError(400, "for https:// use CONNECT (set HTTPS_PROXY, not a plain request)")
    if scheme != "http":
        label = scheme if re.fullmatch(r"[a-z][a-z0-9+.-]{0,15}", scheme) else "this scheme"
        raise HeadError(400, f"{label}:// is not proxied (http:// and CONNECT only)")
    cut = min((i for i in (after.find("/"), after.find("?"), after.find("#")) if i >= 0), default=len(after))
    authority, path = after[:cut], after[cut:].split("#", 1)[0]
    authority = authority.rpartition("@")[2]  # user:password@ is never sent on (clients send Authorization)
    host, port = _authority(authority, 80)
    if not path.startswith("/"):
        path = "/" + path
    shown = f"[{host}]" if ":" in host else host
    names = [name.lower() for name, _ in fields]
    if "content-length" in names and "transfer-encoding" in names:
        raise HeadError(400, "both Content-Length and Transfer-Encoding (ambiguous framing)")
    named = {v.strip().lower() for name, value in fields if name.lower() == "connection"
             for v in value.split(",")} - _FRAMING
    out = [f"{method} {path} {version}", "Host: " + (shown if port == 80 else f"{shown}:{port}")]
    out += [f"{name}: {value}" for name, value in fields if name.lower() not in _HOP and name.lower() not in named]
    out.append("Connection: close")
    return Request(method, host, port, ("\r\n".join(out) + "\r\n\r\n").encode("latin-1"), rest)


def response(status: int, reason: str, body: str = "", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A complete short response from the proxy itself, closing the connection."""
    payload = (body + "\n").encode() if body else b""
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: text/plain; charset=utf-8",
             f"Content-Length: {len(payload)}", "Connection: close", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
