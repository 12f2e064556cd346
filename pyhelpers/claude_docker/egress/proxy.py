"""The egress proxy of one session: it runs on the host as a child of the `claude` wrapper, serves the unix
socket the session's forwarder carries loopback connections to, and lets through only what the allowlist
allows.

Each connection: one request head (CONNECT host:port, or a plain http:// request), the allowlist's decision
on the host as named, the destination resolved now on the host (destination.py), a connection, then bytes
relayed until either side ends. Every connection is one `egress.connection` event (denied ones when
decided, the others when they close) and a metric; what was denied is also counted in the summary file the
wrapper reads for the session's end summary. It stops on SIGTERM/SIGINT, and when the wrapper is gone.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time

# The wrapper imports this module for `command` alone: what serving needs is imported by serve's process.
TYPE_CHECKING = False  # not typing's import (mypy knows the name)
if TYPE_CHECKING:
    from pathlib import Path

    from claude_docker.egress.allowlist import Entry, Live
    from claude_docker.egress.httphead import Request

MAX_CONNECTIONS = 256
CONNECT_TIMEOUT = 10.0
ACCEPT_POLL = 0.25  # how soon a stop request or a gone wrapper is noticed between connections
PARENT_CHECK = 1.0
STOP_GRACE = 1.5  # how long open connections get to record their close once shut down (the wrapper waits 3 s)
DENIED_HEADER = ("X-Claude-Docker-Egress", "denied")
TLS_PORT = 443
MAX_SUMMARY = 1000  # denied hosts the summary names; a session asking for more is counted under OTHERS
OTHERS = "(other hosts)"
SUMMARY_EVERY = 2.0
MAX_REASON = 200
# Events per minute before they are only counted: a session can't rotate the event log (every session's
# record) away by flooding the proxy. What was held back is one egress.suppressed event, and every
# connection is still in the metrics.
EVENTS_PER_MINUTE = 300


def command(fd: int, summary: Path, session: str, trace_id: str, span_id: str, parent_pid: int) -> list[str]:
    """The argv the wrapper spawns (passing `fd`, its listening unix socket) to run the proxy."""
    return [sys.executable, "-I", "-m", "claude_docker", "egress", "proxy", "--fd", str(fd), "--summary",
            str(summary), "--session", session, "--trace-id", trace_id, "--span-id", span_id,
            "--parent-pid", str(parent_pid)]


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Connection:
    """What one connection's event reports, filled in as it goes."""

    def __init__(self):
        self.started = time.monotonic()
        self.host = ""
        self.port = 0
        self.method = ""
        self.entry: Entry | None = None
        self.bytes_out = self.bytes_in = 0


def _observe(outcomes: dict[str, int], bytes_out: int, bytes_in: int) -> None:
    from claude_docker.obs import catalog

    for outcome, count in outcomes.items():
        catalog.observe("claude_docker_egress_connections_total", count, outcome=outcome)
    for direction, count in (("out", bytes_out), ("in", bytes_in)):
        if count:
            catalog.observe("claude_docker_egress_bytes_total", count, direction=direction)


class EventBudget:
    """At most EVENTS_PER_MINUTE connections a minute get their own event and metric records; past that
    they are added up, and written as one `egress.suppressed` event and one record per metric when the
    minute is over (or the proxy stops): a flooding session can't rotate either log away."""

    def __init__(self):
        self.lock = threading.Lock()
        self.window = time.monotonic()
        self.spent = 0
        self.held: dict[str, int] = {}
        self.held_out = self.held_in = 0

    def spend(self, outcome: str, bytes_out: int, bytes_in: int) -> bool:
        """True: record this connection on its own; False: it was added to what the minute holds back."""
        with self.lock:
            now = time.monotonic()
            if now - self.window >= 60:
                self._report()
                self.window, self.spent = now, 0
            self.spent += 1
            if self.spent <= EVENTS_PER_MINUTE:
                return True
            self.held[outcome] = self.held.get(outcome, 0) + 1
            self.held_out += bytes_out
            self.held_in += bytes_in
            return False

    def flush(self) -> None:
        with self.lock:
            self._report()

    def _report(self) -> None:
        if self.held:
            from claude_docker.obs import events

            total = sum(self.held.values())
            events.emit("egress.suppressed", f"{total} egress connections past {EVENTS_PER_MINUTE} a minute, "
                        "added up here", level="warn", fields={"suppressed": total, **self.held,
                                                               "bytes_out": self.held_out, "bytes_in": self.held_in})
            _observe(self.held, self.held_out, self.held_in)
            self.held, self.held_out, self.held_in = {}, 0, 0


class Server:
    def __init__(self, live: Live, summary: Path, stop: threading.Event):
        self.live = live
        self.summary = summary
        self.stop = stop
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.threads: set[threading.Thread] = set()
        self.denied: dict[str, int] = {}
        self.summary_due = 0.0
        self.writing = threading.Lock()
        self.budget = EventBudget()

    # -- bookkeeping

    def _track(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.add(sock)
        if self.stop.is_set():  # stop() may have swept the set just before this one joined it
            _shut(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.discard(sock)
        sock.close()

    def _record(self, conn: _Connection, outcome: str, reason: str = "") -> None:
        from claude_docker.obs import events

        if not self.budget.spend(outcome, conn.bytes_out, conn.bytes_in):
            return
        _observe({outcome: 1}, conn.bytes_out, conn.bytes_in)
        fields: dict = {"host": conn.host, "port": conn.port, "method": conn.method, "bytes_out": conn.bytes_out,
                        "bytes_in": conn.bytes_in}
        reason = reason[:MAX_REASON]
        if reason:
            fields["reason"] = reason
        if conn.entry is not None:
            fields["entry"] = conn.entry.text
        where = hostport(conn.host, conn.port) if conn.host else "(no request)"
        message = f"{outcome} {conn.method} {where}" + (f": {reason}" if reason else "")
        events.emit("egress.connection", message, level="info" if outcome == "allowed" else "warn", outcome=outcome,
                    duration_ms=(time.monotonic() - conn.started) * 1000, fields=fields)

    def write_summary(self) -> None:
        import json

        from claude_docker import fsio

        with self.writing:  # one writer at a time: an older snapshot never lands after a newer one
            with self.lock:
                data = json.dumps(self.denied, sort_keys=True).encode()
            try:
                fsio.write_atomic(self.summary, data, mode=0o600)
            except OSError:
                pass  # the wrapper reads it at the end: a summary it can't have costs a hint, never the session

    # -- one connection

    def handle(self, client: socket.socket) -> None:
        from claude_docker.egress import destination, httphead
        from claude_docker.egress.relay import relay

        conn = _Connection()
        upstream = None
        try:
            try:
                head, rest = httphead.read_head(client)
                request = httphead.parse(head, rest)
            except httphead.HeadError as exc:
                _send(client, httphead.response(exc.status, _REASONS[exc.status], f"claude-docker: {exc.reason}"))
                self._record(conn, "failed", exc.reason)
                return
            except OSError as exc:
                self._record(conn, "failed", f"reading the request: {exc.strerror or exc}")
                return
            conn.host, conn.port, conn.method = request.host, request.port, request.method
            conn.entry = self.live.current().match(request.host, request.port)
            if conn.entry is None:
                self._deny(client, conn, "not in the allowlist")
                return
            if request.connect and request.port != TLS_PORT and not conn.entry.port_text:
                # A bare entry's port 80 is for plain requests, which are rewritten for the host checked; a
                # tunnel there would carry any Host the client likes to whatever shares that address.
                self._deny(client, conn, f"a tunnel to port {request.port} is allowed only by an entry naming "
                                         f"that port ({hostport(request.host, request.port)})")
                return
            try:
                targets = destination.addresses(conn.entry, request.host, request.port)
            except destination.Refused as exc:
                if exc.outcome == "denied":
                    self._deny(client, conn, exc.reason)
                else:
                    _send(client, httphead.response(502, "Bad Gateway", f"claude-docker: {exc.reason}"))
                    self._record(conn, "failed", exc.reason)
                return
            upstream, status, reason = _connect(targets, request)
            if upstream is None:
                _send(client, httphead.response(status, _REASONS[status], f"claude-docker: {reason}"))
                self._record(conn, "failed", reason)
                return
            self._track(upstream)
            if request.connect:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                first = request.rest
                if request.port == TLS_PORT and conn.entry.kind == "name":
                    if not self._tls_handshake_held(client, upstream, conn, first):
                        return
                    first = b""
            else:
                first = (request.head or b"") + request.rest
            out, into = relay(client, upstream, first)
            conn.bytes_out += out
            conn.bytes_in += into
            self._record(conn, "allowed")
        except OSError as exc:  # the client went away mid-answer
            self._record(conn, "failed", exc.strerror or str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug met by one connection ends it alone, recorded, not the proxy
            self._record(conn, "failed", f"internal error ({type(exc).__name__}: {exc})")
        finally:
            if upstream is not None:
                self._untrack(upstream)
            self._untrack(client)
            self.slots.release()
            with self.lock:
                self.threads.discard(threading.current_thread())

    def _tls_handshake_held(self, client: socket.socket, upstream: socket.socket, conn: _Connection,
                            first: bytes) -> bool:
        """Carry the handshake's start while holding it to the host checked: the ClientHello, the server's
        answer, and after a HelloRetryRequest the second ClientHello. False: refused and recorded."""
        from claude_docker.egress import tlshello

        hello = self._checked_hello(client, conn, first)
        if hello is None:
            return False
        upstream.sendall(hello)
        conn.bytes_out += len(hello)
        try:
            answer, retry = tlshello.server_answer(upstream)
        except tlshello.NotHello:
            return True  # the server said nothing in time, or closed: the relay ends it as it would
        client.sendall(answer)
        conn.bytes_in += len(answer)
        if retry:
            again = self._checked_hello(client, conn, b"")
            if again is None:
                return False
            upstream.sendall(again)
            conn.bytes_out += len(again)
        return True

    def _checked_hello(self, client: socket.socket, conn: _Connection, first: bytes) -> bytes | None:
        """The tunnel's opening bytes if its TLS ClientHello names the host checked; else None, recorded as
        denied (the tunnel is closed before a byte reaches the origin)."""
        from claude_docker.egress import tlshello
        from claude_docker.egress.allowlist import normal_host

        try:
            hello = tlshello.read(client, first)
        except (tlshello.NotHello, OSError) as exc:
            self._record(conn, "denied", f"{exc} on port {TLS_PORT}")
            return None
        if hello.ech:
            self._record(conn, "denied", "TLS Encrypted Client Hello hides the server name")
            return None
        try:
            name = normal_host(hello.server_name)[0] if hello.server_name else None
        except ValueError:
            name = None
        if name == conn.host:
            return hello.raw
        if name is None:
            self._record(conn, "denied", "TLS without a server name")
        else:
            self._record(conn, "denied", f"TLS server name {name} is not the host checked")
        return None

    def _deny(self, client: socket.socket, conn: _Connection, reason: str) -> None:
        from claude_docker.egress import httphead

        where = hostport(conn.host, conn.port)
        if reason == "not in the allowlist":
            body = (f"claude-docker: egress to {where} is not allowed; allow it on the host with: "
                    f"claude-docker egress allow {where}")
        else:
            body = f"claude-docker: egress to {where} is not allowed: {reason}"
        self._record(conn, "denied", reason)
        _send(client, httphead.response(403, "Forbidden", body, (DENIED_HEADER,)))
        if reason == "not in the allowlist":
            self._count_denied(where)

    def _count_denied(self, where: str) -> None:
        """One more denial of `where` in the summary: at most MAX_SUMMARY hosts (the rest counted as one), and
        written at most every SUMMARY_EVERY seconds while the proxy runs (always when it stops)."""
        with self.lock:
            if where in self.denied or len(self.denied) < MAX_SUMMARY:
                self.denied[where] = self.denied.get(where, 0) + 1
            else:
                self.denied[OTHERS] = self.denied.get(OTHERS, 0) + 1
            due = time.monotonic() >= self.summary_due
            if due:
                self.summary_due = time.monotonic() + SUMMARY_EVERY
        if due:
            self.write_summary()

    # -- the loop

    def accept_one(self, client: socket.socket) -> None:
        from claude_docker.egress import httphead

        if not self.slots.acquire(blocking=False):
            _send(client, httphead.response(503, "Service Unavailable",
                                            f"claude-docker: more than {MAX_CONNECTIONS} connections at once"))
            client.close()
            self._record(_Connection(), "failed", "too many connections")
            return
        self._track(client)
        thread = threading.Thread(target=self.handle, args=(client,), daemon=True)
        with self.lock:
            self.threads.add(thread)
        thread.start()

    def shut_all(self) -> None:
        with self.lock:
            for sock in list(self.sockets):
                _shut(sock)
            threads = list(self.threads)
        deadline = time.monotonic() + STOP_GRACE
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large", 502: "Bad Gateway",
            504: "Gateway Timeout"}


def _send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.settimeout(5)
        sock.sendall(data)
    except OSError:
        pass  # the client is gone: nobody is left to tell


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already


def _connect(targets: list[tuple[int, tuple]], request: Request) -> tuple[socket.socket | None, int, str]:
    """A connected socket to the first address that answers; else (None, 502 or 504, why)."""
    where = hostport(request.host, request.port)
    status, reason = 502, f"cannot connect to {where}"
    for family, sockaddr in targets:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a relay adds no delay of its own
            return sock, 0, ""
        except socket.timeout:
            status, reason = 504, f"connecting to {where} timed out"
        except OSError as exc:
            status, reason = 502, f"cannot connect to {where}: {exc.strerror or exc}"
        sock.close()
    return None, status, reason


class _Stopped(Exception):
    """Raised by the stop signal's handler in the main thread, out of whatever wait it is in."""


def serve(listener: socket.socket, live: Live, summary: Path, parent_pid: int,
          stop: threading.Event | None = None) -> None:
    """Serve `listener` (listening already) until SIGTERM/SIGINT (when run in the main thread), `stop` is
    set, or this process's parent is no longer `parent_pid`. Open connections are shut down on the way out,
    each still recorded, and the denied summary is written last."""
    import errno
    import signal

    from claude_docker.obs import events

    stop = stop or threading.Event()
    server = Server(live, summary, stop)

    def on_signal(_signum, _frame) -> None:
        if not stop.is_set():  # the first one ends the wait in accept at once (the session's end waits on it)
            stop.set()
            raise _Stopped

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, on_signal)
    events.emit("egress.proxy_start", f"egress proxy serving with {len(live.current().entries)} allowlist entries",
                fields={"entries": len(live.current().entries)})
    listener.settimeout(ACCEPT_POLL)
    next_check = 0.0
    try:
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_check:
                if os.getppid() != parent_pid:
                    break
                next_check = now + PARENT_CHECK
            try:
                client, _address = listener.accept()
            except socket.timeout:
                continue
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    time.sleep(ACCEPT_POLL)  # out of descriptors: let open connections finish first
                    continue
                raise
            server.accept_one(client)
    except _Stopped:
        pass
    finally:
        stop.set()
        server.shut_all()
        server.write_summary()  # first: the wrapper waits on this exit for it, a few seconds at most
        server.budget.flush()
        events.emit("egress.proxy_stop", "egress proxy stopped",
                    fields={"denied": sum(server.denied.values())})
