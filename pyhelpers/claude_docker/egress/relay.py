"""Bytes both ways between a client and its origin, counted, as fast as a direct connection.

On Linux (Python >= 3.10) each direction moves data with splice(2) through a pipe: socket to pipe to socket
in the kernel, never copied into Python. Elsewhere, or where a socket type refuses splice, recv_into and
sendall through one 256 KiB buffer. A direction that reaches end-of-file half-closes the other side
(shutdown SHUT_WR), so a client that sends its request and closes its write side still gets the answer; an
error in either direction ends both.
"""

from __future__ import annotations

import errno
import os
import socket
import threading

BUFFER = 256 * 1024
_SPLICE = getattr(os, "splice", None)
_NO_SPLICE = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF)


def _copy(src: socket.socket, dst: socket.socket, tally: list[int], index: int, first: bytes = b"") -> None:
    """Copy until end-of-file from src, adding what moved to tally[index] as it goes (so a connection
    that ends in a reset still counts what it carried). OSError from a reset or a broken pipe."""
    if first:
        dst.sendall(first)
        tally[index] += len(first)
    if _SPLICE is not None and _splice(src, dst, tally, index):
        return
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    while True:
        n = src.recv_into(buffer)
        if not n:
            return
        dst.sendall(view[:n])
        tally[index] += n


def _splice(src: socket.socket, dst: socket.socket, tally: list[int], index: int) -> bool:
    """Copy with splice until end-of-file; False if splice is refused before any byte moved."""
    assert _SPLICE is not None
    read_end, write_end = os.pipe()
    try:
        try:
            import fcntl

            fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), BUFFER)
        except OSError:
            pass  # a smaller pipe (the user's pipe-size limit) only means more calls
        moved = False
        flags = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_MORE", 4)
        while True:
            try:
                n = _SPLICE(src.fileno(), write_end, BUFFER, flags=flags)
            except OSError as exc:
                if not moved and exc.errno in _NO_SPLICE:
                    return False
                raise
            if n == 0:
                return True
            moved = True
            left = n
            while left:
                left -= _SPLICE(read_end, dst.fileno(), left, flags=flags)
            tally[index] += n
    finally:
        os.close(read_end)
        os.close(write_end)


def _shutdown(sock: socket.socket, how: int) -> None:
    try:
        sock.shutdown(how)
    except OSError:
        pass  # already closed or reset: nothing left to tell it


def relay(client: socket.socket, upstream: socket.socket, first_out: bytes = b"") -> tuple[int, int]:
    """Relay until both directions end; (bytes_out: client to upstream, bytes_in: upstream to client).
    `first_out` is sent to upstream before the client's bytes (what was read past a request head). Both
    sockets are left open for the caller to close; shutting them down from another thread ends the relay."""
    for s in (client, upstream):
        s.setblocking(True)  # splice needs blocking descriptors; a timeout would make them non-blocking
    counts = [0, 0]

    def pump(index: int, src: socket.socket, dst: socket.socket, first: bytes) -> None:
        try:
            _copy(src, dst, counts, index, first)
            _shutdown(dst, socket.SHUT_WR)
        except OSError:
            _shutdown(src, socket.SHUT_RDWR)
            _shutdown(dst, socket.SHUT_RDWR)

    inbound = threading.Thread(target=pump, args=(1, upstream, client, b""), daemon=True)
    inbound.start()
    pump(0, client, upstream, first_out)
    inbound.join()
    return counts[0], counts[1]
