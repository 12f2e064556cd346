"""A TCP server on 127.0.0.1 for origins the egress proxy reaches, and reading an HTTP head off a socket (its
tests and bench/egress.py)."""

from __future__ import annotations

import socket
import threading


class Origin:
    """Runs `behave(conn)` for each connection, in a thread of its own; `port` is where it listens."""

    def __init__(self, behave):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.behave = behave
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            self.behave(conn)

    def close(self):
        self.sock.close()


def read_head(conn: socket.socket, size: int = 65536) -> bytes:
    """What `conn` sends up to the end of an HTTP head (all of it if the peer closes first). `size` 1 reads
    nothing past the head."""
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = conn.recv(size)
        if not chunk:
            break
        got += chunk
    return got
