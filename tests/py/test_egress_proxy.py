"""The egress proxy with real sockets: a unix listener in tmp_path, origins on 127.0.0.1, names that must
not resolve under .invalid. No Docker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from claude_docker.egress import allowlist, httphead, proxy, relay
from claude_docker.obs import context
from origin import Origin, read_head
from polling import wait_for

TRACE, SPAN, SESSION = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "sess-egress-1"


def echo_upper(conn):
    """Answer each chunk in capitals until the client half-closes, then say how much came."""
    got = 0
    while True:
        data = conn.recv(65536)
        if not data:
            break
        got += len(data)
        conn.sendall(data.upper())
    conn.sendall(f"[{got}]".encode())


def events(home, name="egress.connection"):
    path = home / ".claude-docker-events.jsonl"
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["event"] == name]


@pytest.fixture
def bound(monkeypatch):
    monkeypatch.setattr(context, "_bound", {})
    monkeypatch.setattr(context, "_fragment", [None])
    context.bind(trace_id=TRACE, span_id=SPAN, session=SESSION)


@pytest.fixture
def serving(home, tmp_path, bound, monkeypatch):
    """Start the proxy in a thread with CLAUDE_DOCKER_ALLOW_HOSTS=allow; returns (socket path, summary)."""
    started = []

    def start(allow: str):
        monkeypatch.setenv("CLAUDE_DOCKER_ALLOW_HOSTS", allow)
        path = str(tmp_path / "proxy.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(64)
        stop = threading.Event()
        summary = tmp_path / "denied.json"
        thread = threading.Thread(target=proxy.serve, args=(listener, allowlist.Live(), summary, os.getppid(), stop),
                                  daemon=True)
        thread.start()
        started.append((stop, thread, listener))
        return path, summary

    yield start
    for stop, thread, listener in started:
        stop.set()
        thread.join(10)
        listener.close()
        assert not thread.is_alive()


def ask(path, head: bytes, body: bytes = b"") -> tuple[socket.socket, bytes]:
    """Send a request head to the proxy; (the connection, the response head)."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(path)
    try:
        c.sendall(head + body)
    except BrokenPipeError:
        pass  # the proxy answered (a 503, a 431) and closed before reading it all: its answer is still there
    return c, read_head(c, 1)


def read_all(c) -> bytes:
    out = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            return out
        out += chunk


def test_connect_to_an_allowed_origin_relays_both_ways_and_is_recorded(serving, home):
    origin = Origin(echo_upper)
    path, _summary = serving(f"127.0.0.1:{origin.port}")
    c, head = ask(path, f"CONNECT host.docker.internal:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
                  b"hello ")
    assert head == b"HTTP/1.1 200 Connection established\r\n\r\n"
    c.sendall(b"world")
    c.shutdown(socket.SHUT_WR)
    assert read_all(c) == b"HELLO WORLD[11]"
    c.close()
    record = wait_for(lambda: events(home))[0]
    assert record["outcome"] == "allowed" and record["trace_id"] == TRACE and record["session"] == SESSION
    f = record["fields"]
    assert (f["host"], f["port"], f["method"]) == ("host.docker.internal", origin.port, "CONNECT")
    assert (f["bytes_out"], f["bytes_in"]) == (11, 15)
    assert f["entry"] == f"127.0.0.1:{origin.port}" and record["duration_ms"] >= 0
    metrics = home / ".claude-docker-metrics.jsonl"  # observed right after the event: wait for all three
    observed = wait_for(lambda: metrics.exists() and len(metrics.read_text().splitlines()) == 3
                        and [json.loads(line) for line in metrics.read_text().splitlines()])
    assert {(m["metric"], tuple(m["labels"].values()), m["value"], m["trace_id"]) for m in observed} == {
        ("claude_docker_egress_connections_total", ("allowed",), 1, TRACE),
        ("claude_docker_egress_bytes_total", ("out",), 11, TRACE),
        ("claude_docker_egress_bytes_total", ("in",), 15, TRACE)}
    origin.close()


def test_a_denied_host_gets_403_an_event_and_a_summary_line(serving, home):
    path, summary = serving("")
    for _ in range(2):
        c, head = ask(path, b"CONNECT evil.invalid:443 HTTP/1.1\r\n\r\n")
        body = read_all(c).decode()
        c.close()
        assert head.startswith(b"HTTP/1.1 403 ") and b"\r\nX-Claude-Docker-Egress: denied\r\n" in head
        assert body == ("claude-docker: egress to evil.invalid:443 is not allowed; allow it on the host with: "
                        "claude-docker egress allow evil.invalid:443\n")
    assert json.loads(summary.read_text()) == {"evil.invalid:443": 1}  # written when it was new
    denied = events(home)
    assert [r["outcome"] for r in denied] == ["denied", "denied"]
    assert denied[0]["fields"]["reason"] == "not in the allowlist" and denied[0]["trace_id"] == TRACE


def test_an_allowed_name_that_does_not_resolve_fails_that_connection_only(serving, home):
    origin = Origin(echo_upper)
    path, _summary = serving(f"x.invalid:443 localhost:{origin.port}")
    c, head = ask(path, b"CONNECT x.invalid:443 HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 ") and b"cannot resolve x.invalid" in read_all(c)
    c.close()
    c, head = ask(path, f"CONNECT localhost:{origin.port} HTTP/1.1\r\n\r\n".encode(), b"ok")
    c.shutdown(socket.SHUT_WR)
    assert head.startswith(b"HTTP/1.1 200") and read_all(c) == b"OK[2]"
    c.close()
    records = wait_for(lambda: len(events(home)) == 2 and events(home))
    assert records[0]["outcome"] == "failed" and records[0]["fields"]["reason"] == "cannot resolve x.invalid"
    assert records[0]["fields"]["entry"] == "x.invalid:443"
    origin.close()


def test_a_refused_connection_is_502_failed(serving, home):
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    path, _summary = serving(f"127.0.0.1:{port}")
    c, head = ask(path, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
    c.close()
    assert head.startswith(b"HTTP/1.1 502 ")
    assert wait_for(lambda: events(home))[0]["outcome"] == "failed"


def test_a_plain_request_is_rewritten_for_the_origin(serving, home):
    seen = []

    def origin_side(conn):
        data = b""
        while b"\r\n\r\nbody" not in data:
            data += conn.recv(65536)
        seen.append(data)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")

    origin = Origin(origin_side)
    path, _summary = serving(f"localhost:{origin.port}")
    head = (f"POST http://user:pw@LocalHost:{origin.port}/p/a?q=1#frag HTTP/1.1\r\nHost: wrong.example\r\n"
            "Proxy-Authorization: Basic c2VjcmV0\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive, X-Hop\r\n"
            "X-Hop: 1\r\nKeep-Alive: 5\r\nX-Kept: yes\r\nContent-Length: 4\r\n\r\n").encode()
    c, response = ask(path, head, b"body")
    assert response.startswith(b"HTTP/1.1 200 OK") and read_all(c) == b"hi"
    c.close()
    sent = seen[0].decode()
    assert sent == (f"POST /p/a?q=1 HTTP/1.1\r\nHost: localhost:{origin.port}\r\nX-Kept: yes\r\nContent-Length: 4\r\n"
                    "Connection: close\r\n\r\nbody")
    record = wait_for(lambda: events(home))[0]
    assert record["fields"]["method"] == "POST" and record["fields"]["bytes_out"] == len(seen[0])
    assert "c2VjcmV0" not in (home / ".claude-docker-events.jsonl").read_text()
    origin.close()


@pytest.mark.parametrize(("head", "status", "says"), [
    (b"GET https://example.com/ HTTP/1.1\r\n\r\n", 400, b"use CONNECT"),
    (b"GET ftp://example.com/ HTTP/1.1\r\n\r\n", 400, b"ftp:// is not proxied"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, b"not a proxy request"),
    (b"CONNECT example.com HTTP/1.1\r\n\r\n", 400, b"host:port"),
    (b"GET http://a.example/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, b"folded"),
    (b"GET http://a.example/ HTTP/1.1\r\nX: a\x01\r\n\r\n", 400, b"control characters"),
    (b"GET http://a.example/ HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431, b"too large"),
    (b"GET http://a.example/ HTTP/1.1\r\n" + b"X: a\r\n" * 101 + b"\r\n", 431, b"more than 100"),
])
def test_bad_heads_are_answered_and_recorded(serving, home, head, status, says):
    path, _summary = serving("")
    c, response = ask(path, head)
    body = read_all(c)
    c.close()
    assert response.startswith(f"HTTP/1.1 {status} ".encode()) and says in body
    assert wait_for(lambda: events(home))[0]["outcome"] == "failed"


def test_a_name_that_resolves_to_loopback_is_denied(serving, home, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 443))])
    path, summary = serving("rebind.invalid")
    c, head = ask(path, b"CONNECT rebind.invalid:443 HTTP/1.1\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403") and b"resolves to a local address" in read_all(c)
    c.close()
    assert events(home)[0]["fields"]["reason"] == "resolves to a local address"
    assert not summary.exists()  # the end summary names what an `egress allow` would let through: not this


def test_a_live_edit_is_seen_by_the_next_connection(serving, home):
    origin = Origin(echo_upper)
    path, _summary = serving("")
    request = f"CONNECT localhost:{origin.port} HTTP/1.1\r\n\r\n".encode()
    c, head = ask(path, request)
    c.close()
    assert head.startswith(b"HTTP/1.1 403")
    allowlist.add([f"host.docker.internal:{origin.port}"])
    c, head = ask(path, request)
    c.close()
    assert head.startswith(b"HTTP/1.1 200")
    allowlist.allowlist_file().write_text("not valid at all\n")  # a bad edit keeps the last good list
    c, head = ask(path, request)
    c.close()
    assert head.startswith(b"HTTP/1.1 200")
    assert len(events(home, "egress.allowlist_invalid")) == 1
    origin.close()


def test_more_connections_than_the_limit_get_503(serving, home, monkeypatch):
    monkeypatch.setattr(proxy, "MAX_CONNECTIONS", 1)
    path, _summary = serving("")
    hold = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hold.connect(path)  # sends nothing: holds the one slot while its head is awaited
    time.sleep(0.1)
    c, head = ask(path, b"CONNECT a.invalid:443 HTTP/1.1\r\n\r\n")
    c.close()
    hold.close()
    assert head.startswith(b"HTTP/1.1 503")


def test_relay_carries_a_large_transfer_and_counts_it():
    payload = os.urandom(8 << 20)
    a_client, a_proxy = socket.socketpair()
    b_proxy = socket.create_server(("127.0.0.1", 0))
    origin = socket.create_connection(b_proxy.getsockname())
    upstream, _ = b_proxy.accept()
    result = []
    t = threading.Thread(target=lambda: result.append(relay.relay(a_proxy, upstream, b"first")), daemon=True)
    t.start()
    sender = threading.Thread(target=lambda: (origin.sendall(payload), origin.shutdown(socket.SHUT_WR)), daemon=True)
    sender.start()
    a_client.sendall(b"up")
    a_client.shutdown(socket.SHUT_WR)
    assert read_all(a_client) == payload
    assert read_all(origin) == b"firstup"
    t.join(10)
    assert result == [(7, len(payload))]
    for s in (a_client, a_proxy, b_proxy, origin, upstream):
        s.close()


def test_head_parsing_units():
    req = httphead.parse(b"CONNECT [2001:DB8::1]:8443 HTTP/1.1\r\nHost: x")
    assert (req.host, req.port, req.connect) == ("2001:db8::1", 8443, True)
    for bad in (b"CONNECT 2001:db8::1:443 HTTP/1.1", b"CONNECT a.example:0 HTTP/1.1", b"GET http:///x HTTP/1.1",
                b"GET http://a.example/ HTTP/2.0", b"CONNECT b\xc3\xbccher.example:443 HTTP/1.1"):
        with pytest.raises(httphead.HeadError):
            httphead.parse(bad)
    req = httphead.parse(b"GET http://[::1]:8080 HTTP/1.0")
    assert req.head == b"GET / HTTP/1.0\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n"


# -- the proxy as the wrapper runs it: a process serving an inherited socket


def spawn(tmp_path, parent_pid=None, shell=False):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = str(tmp_path / "p.sock")
    listener.bind(path)
    listener.listen(8)
    summary = tmp_path / "denied.json"
    argv = proxy.command(listener.fileno(), summary, SESSION, TRACE, SPAN, parent_pid or os.getpid())
    if shell:  # a parent that exits: a shell that starts the proxy with its own pid as the parent, and leaves
        script = '"$@" --parent-pid $$ >/dev/null 2>&1 & echo $!; sleep 0.5'
        argv = ["sh", "-c", script, "sh", *argv[:-2]]
        out = subprocess.run(argv, pass_fds=[listener.fileno()], capture_output=True, text=True, timeout=30)
        listener.close()
        return int(out.stdout.strip()), path, summary
    process = subprocess.Popen(argv, pass_fds=[listener.fileno()], stderr=subprocess.PIPE)
    listener.close()
    return process, path, summary


def test_sigterm_closes_open_connections_records_them_and_exits_0(home, tmp_path, monkeypatch):
    origin = Origin(echo_upper)
    monkeypatch.setenv("CLAUDE_DOCKER_ALLOW_HOSTS", f"127.0.0.1:{origin.port}")
    process, path, summary = spawn(tmp_path)
    try:
        c = wait_for(lambda: _connected(path))
        c.sendall(f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\n\r\nabc".encode())
        assert c.recv(100).startswith(b"HTTP/1.1 200")
        wait_for(lambda: c.recv(10) == b"ABC")
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0, process.stderr.read()
        assert read_all(c) == b""  # shut down by the proxy
    finally:
        if process.poll() is None:
            process.kill()
    record = events(home)[0]
    assert record["outcome"] == "allowed" and record["fields"]["bytes_out"] == 3 and record["trace_id"] == TRACE
    assert record["session"] == SESSION
    assert [r["event"] for r in events(home, "egress.proxy_stop")] == ["egress.proxy_stop"]
    assert json.loads(summary.read_text()) == {}
    origin.close()


def _connected(path):
    try:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(10)
        c.connect(path)
        return c
    except OSError:
        return None


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")  # a zombie nobody reaped: it has exited
    except FileNotFoundError:
        return True


def test_the_proxy_exits_when_its_parent_is_gone(home, tmp_path):
    pid, _path, _summary = spawn(tmp_path, shell=True)
    try:
        wait_for(lambda: _gone(pid), timeout=10)
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: events(home, "egress.proxy_stop"))


def test_the_command_is_the_helper_run_isolated():
    argv = proxy.command(7, "/s.json", "sid", TRACE, SPAN, 42)
    assert argv[:6] == [sys.executable, "-I", "-m", "claude_docker", "egress", "proxy"]
    assert argv[argv.index("--fd") + 1] == "7" and argv[argv.index("--parent-pid") + 1] == "42"


# --- a tunnel on 443 must be TLS for the host checked ------------------------------------------------------

def client_hello(server_name: str | None) -> bytes:
    """The ClientHello OpenSSL itself sends for `server_name` (no name: none in it)."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    outgoing = ssl.MemoryBIO()
    tls = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.fixture
def named_origin(monkeypatch):
    """Start an Origin on 127.0.0.1 that every allowed name reaches (the resolver is this test's)."""
    from claude_docker.egress import destination

    started = []

    def start(behave) -> Origin:
        origin = Origin(behave)
        started.append(origin)
        monkeypatch.setattr(destination, "addresses",
                            lambda *a, **k: [(socket.AF_INET, ("127.0.0.1", origin.port))])
        return origin

    yield start
    for origin in started:
        origin.close()


def _recv_or_nothing(conn) -> bytes:
    try:
        return conn.recv(65536)
    except OSError:
        return b""


@pytest.fixture
def tls_origin(named_origin):
    """An origin a name entry reaches that records what came first."""
    got: list[bytes] = []

    def record(conn):
        conn.settimeout(5)
        got.append(_recv_or_nothing(conn))

    named_origin(record)
    return got


@pytest.mark.parametrize("hello, outcome, reason", [
    (client_hello("tls.example"), "allowed", None),
    (client_hello("TLS.Example."), "allowed", None),
    (client_hello("other.example"), "denied", "TLS server name other.example is not the host checked"),
    (client_hello(None), "denied", "TLS without a server name"),
    (b"GET / HTTP/1.1\r\nHost: other.example\r\n\r\n", "denied", "not TLS on port 443"),
])
def test_a_tunnel_on_443_carries_only_tls_for_the_host_checked(serving, home, tls_origin, hello, outcome, reason):
    path, summary = serving("tls.example")
    c, head = ask(path, b"CONNECT tls.example:443 HTTP/1.1\r\n\r\n", hello)
    assert head.startswith(b"HTTP/1.1 200")
    read_all(c)  # until the proxy (denied) or the origin (done) closes
    c.close()
    record = wait_for(lambda: events(home))[0]
    assert record["outcome"] == outcome and record["fields"].get("reason") == reason
    if outcome == "allowed":
        assert wait_for(lambda: tls_origin) == [hello]  # the hello itself went on, byte for byte
    else:
        assert tls_origin in ([], [b""])  # the origin got nothing
    assert not summary.exists()  # no `egress allow` would make such a tunnel work: the end summary says nothing


def test_a_hello_split_across_records_is_read_whole():
    from claude_docker.egress import tlshello

    hello = client_hello("split.example")
    body = hello[5:]
    split = b"\x16\x03\x01" + (20).to_bytes(2, "big") + body[:20] + \
        b"\x16\x03\x01" + (len(body) - 20).to_bytes(2, "big") + body[20:]
    a, b = socket.socketpair()
    with a, b:
        b.sendall(split[:7])
        threading.Timer(0.1, b.sendall, (split[7:],)).start()
        found = tlshello.read(a, b"", timeout=5)
    assert found.server_name == "split.example" and not found.ech and found.raw == split


def test_encrypted_client_hello_is_refused():
    from claude_docker.egress import tlshello

    hello = client_hello("ech.example")
    body = bytearray(hello[9:])  # the ClientHello's body: add an ECH extension at the end
    ext_start = 2 + 32 + 1 + body[34]
    ext_start += 2 + int.from_bytes(body[ext_start:ext_start + 2], "big")
    ext_start += 1 + body[ext_start]
    total = int.from_bytes(body[ext_start:ext_start + 2], "big")
    body[ext_start:ext_start + 2] = (total + 5).to_bytes(2, "big")
    body += b"\xfe\x0d\x00\x01\x00"
    assert tlshello.parse(bytes(body)) == ("ech.example", True)


def test_a_bare_entry_tunnels_only_to_443(serving, home, tls_origin):
    path, _summary = serving("tls.example, raw.example:80")
    c, head = ask(path, b"CONNECT tls.example:80 HTTP/1.1\r\n\r\n")
    c.close()
    assert head.startswith(b"HTTP/1.1 403")
    assert "entry naming that port" in events(home)[0]["fields"]["reason"]
    c, head = ask(path, b"CONNECT raw.example:80 HTTP/1.1\r\n\r\n", b"GET / HTTP/1.0\r\n\r\n")
    c.close()
    assert head.startswith(b"HTTP/1.1 200")  # the user named port 80: a raw tunnel there is theirs to allow


# --- a flooding session can't rotate the event log away ----------------------------------------------------

def test_events_past_the_budget_are_counted_not_written(serving, home, monkeypatch):

    monkeypatch.setattr(proxy, "EVENTS_PER_MINUTE", 3)
    path, _summary = serving("")
    for i in range(7):
        c, head = ask(path, f"CONNECT flood{i}.invalid:443 HTTP/1.1\r\n\r\n".encode())
        c.close()
        assert head.startswith(b"HTTP/1.1 403")
    assert len(events(home)) == 3
    metrics = (home / ".claude-docker-metrics.jsonl").read_text()
    assert metrics.count('"claude_docker_egress_connections_total"') == 3  # the rest are added up at the end


def test_what_the_budget_held_back_is_one_event(home, bound, monkeypatch):
    monkeypatch.setattr(proxy, "EVENTS_PER_MINUTE", 2)
    budget = proxy.EventBudget()
    spent = [budget.spend(outcome, 10, 20) for outcome in ("denied", "denied", "denied", "allowed", "denied")]
    assert spent == [True, True, False, False, False]
    budget.flush()
    (held,) = events(home, "egress.suppressed")
    assert held["session"] == SESSION
    assert held["fields"] == {"suppressed": 3, "denied": 2, "allowed": 1, "bytes_out": 30, "bytes_in": 60}
    records = [json.loads(line) for line in (home / ".claude-docker-metrics.jsonl").read_text().splitlines()]
    assert {(r["metric"], tuple(r["labels"].values()), r["value"]) for r in records} == {
        ("claude_docker_egress_connections_total", ("denied",), 2),
        ("claude_docker_egress_connections_total", ("allowed",), 1),
        ("claude_docker_egress_bytes_total", ("out",), 30), ("claude_docker_egress_bytes_total", ("in",), 60)}


def test_framing_headers_survive_and_ambiguous_framing_is_refused():
    head = (b"POST http://o.example/x HTTP/1.1\r\nConnection: content-length, transfer-encoding, x-drop\r\n"
            b"Content-Length: 3\r\nX-Drop: 1\r\n\r\n")
    request = httphead.parse(head[:-4])
    assert b"Content-Length: 3" in request.head and b"X-Drop" not in request.head
    with pytest.raises(httphead.HeadError) as caught:
        httphead.parse(b"POST http://o.example/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked")
    assert caught.value.status == 400


def test_a_reason_never_quotes_credentials_or_much_of_the_client(serving, home):
    path, _summary = serving("")
    c, head = ask(path, b"CONNECT user:secretpw@api.example:443 HTTP/1.1\r\n\r\n")
    c.close()
    assert head.startswith(b"HTTP/1.1 400")
    c, head = ask(path, b"CONNECT [" + b"a" * 5000 + b"]:1 HTTP/1.1\r\n\r\n")
    c.close()
    text = (home / ".claude-docker-events.jsonl").read_text()
    assert "secretpw" not in text and "a" * 200 not in text


def retry_request() -> bytes:
    """A HelloRetryRequest as a server sends it (a ServerHello with RFC 8446's special random)."""
    from claude_docker.egress import tlshello

    body = b"\x03\x03" + tlshello.RETRY_RANDOM + b"\x00" + b"\x13\x01" + b"\x00" + b"\x00\x00"
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + len(handshake).to_bytes(2, "big") + handshake


@pytest.mark.parametrize("second, outcome", [("tls.example", "allowed"), ("other.example", "denied")])
def test_the_hello_after_a_retry_request_is_held_to_the_same_name(serving, home, named_origin, second, outcome):
    got: list[bytes] = []

    def retry_then_record(conn):
        conn.settimeout(5)
        got.append(conn.recv(65536))
        conn.sendall(retry_request())
        got.append(_recv_or_nothing(conn))

    named_origin(retry_then_record)
    path, _summary = serving("tls.example")
    first = client_hello("tls.example")
    c, head = ask(path, b"CONNECT tls.example:443 HTTP/1.1\r\n\r\n", first)
    assert head.startswith(b"HTTP/1.1 200")
    c.settimeout(5)
    assert c.recv(65536) == retry_request()
    change_cipher_spec = b"\x14\x03\x03\x00\x01\x01"  # middlebox compatibility, before the second hello
    again = change_cipher_spec + client_hello(second)
    c.sendall(again)
    read_all(c)
    c.close()
    record = wait_for(lambda: events(home))[0]
    assert record["outcome"] == outcome
    assert wait_for(lambda: len(got) == 2 and got)[0] == first
    assert got[1] == (again if outcome == "allowed" else b"")  # the origin never sees the other name


def test_a_hello_with_two_server_names_is_refused():
    from claude_docker.egress import tlshello

    hello = client_hello("one.example")
    body = bytearray(hello[9:])
    at = body.find(b"one.example") - 5  # the server_name list: its length, then type 0, length, name
    entry = b"\x00" + len(b"two.example").to_bytes(2, "big") + b"two.example"
    list_len = int.from_bytes(body[at:at + 2], "big")
    body[at:at + 2] = (list_len + len(entry)).to_bytes(2, "big")
    body[at - 2:at] = (int.from_bytes(body[at - 2:at], "big") + len(entry)).to_bytes(2, "big")  # extension
    insert = at + 2 + list_len
    body[insert:insert] = entry
    ext_start = 2 + 32 + 1 + body[34]
    ext_start += 2 + int.from_bytes(body[ext_start:ext_start + 2], "big")
    ext_start += 1 + body[ext_start]
    body[ext_start:ext_start + 2] = (int.from_bytes(body[ext_start:ext_start + 2], "big") + len(entry)).to_bytes(
        2, "big")
    with pytest.raises(tlshello.NotHello, match="several TLS server names"):
        tlshello.parse(bytes(body))
