"""A service loop (the GitOps reconcile loop, `alert watch`): one cycle at once, then one every interval,
sooner when `wake` says something changed.

One instance at a time: a second one is refused (flock, with the holder's pid written into the lock file so the
refusal can say who). Every cycle's pause is the interval with a jitter share either way, so a team's machines
following one repository don't fetch in step; after a failure the pause is the retry interval, doubled at
each further failure up to max_backoff, and back to the interval after a success. `wake` is a cheap probe (a
local source's refs): polled between cycles, a new answer starts a cycle at once.

SIGTERM, SIGINT and SIGHUP stop the loop cleanly: the cycle in progress runs to its end (an apply is never
cut by our own stop), then run() returns 0. A second signal during a cycle raises KeyboardInterrupt: whoever
sends it wants out now, and an apply survives even SIGKILL. A cycle's failure never ends the loop, and never
shows a traceback: a ToolError is its one line, a bug one line with the traceback saved (crash.log).
"""

from __future__ import annotations

import os
import random
import select
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from claude_docker import exitcodes, locking
from claude_docker.errors import ToolError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Doubling stops here: the pause is capped by max_backoff long before, this only keeps the float finite.
MAX_DOUBLINGS = 64

_now = time.monotonic


class _Stop:
    """A stop asked for by signal. The handler notes it and writes a byte to a pipe, so a pause between
    cycles ends at once while a cycle in progress carries on."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict = {}
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)

    def _handle(self, _signum, _frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        try:
            os.write(self._write, b"s")
        except BlockingIOError:
            pass  # the pipe is full of earlier wake-ups: one is enough

    def __enter__(self) -> _Stop:
        # Handlers can be set from the main thread only; elsewhere (a caller's worker thread) no signal stops it.
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *_exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        os.close(self._read)
        os.close(self._write)

    def pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less when a stop is asked for."""
        if not self.requested:
            select.select([self._read], [], [], max(seconds, 0.0))


def _claim(name: str, lock_path: Path, busy: int) -> int:
    """The loop's lock, held for its lifetime, with our pid written in it; `busy` naming the holder."""
    from claude_docker.paths import ensure_private_dir

    ensure_private_dir(lock_path.parent)
    fd = locking.try_lock(lock_path)  # a lock that can't be taken at all (a FIFO in its place) is no "busy"
    if fd is None:
        raise ToolError(f"another {name} is running ({_holder(lock_path)}lock {lock_path})", busy)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass  # a lock without its note still locks: the refusal just can't name us
    return fd


def _holder(lock_path: Path) -> str:
    from claude_docker import fsio

    try:
        pid = fsio.read_capped(lock_path, 32).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f"pid {pid}, " if pid.isdigit() else ""


def _attempt(name: str, cycle: Callable[[], bool]) -> bool:
    """One cycle; False on failure, with its one line on stderr (a ToolError reported itself in its message)."""
    from claude_docker import ui

    try:
        return bool(cycle())
    except ToolError as exc:
        ui.error(f"{name}: {exc.message}")
    except OSError as exc:
        from claude_docker.errors import describe

        ui.error(f"{name}: {describe(exc)}")
    except Exception as exc:  # noqa: BLE001 - a bug in one cycle must not end the loop: one line, traceback saved
        from claude_docker.cli import save_crash

        ui.error(f"{name}: internal error ({type(exc).__name__}: {exc}); details in {save_crash()}")
    return False


def _news(wake: Callable[[], object] | None) -> object:
    if wake is None:
        return None
    try:
        return wake()
    except Exception:  # noqa: BLE001 - a probe that fails is no news: the next cycle reports what is wrong
        return None


def run(name: str, cycle: Callable[[], bool], *, interval: float, retry: float, max_backoff: float, jitter: float,
        wake: Callable[[], object] | None, lock_path: Path, busy: int, poll: float = 1.0) -> int:
    """Run `cycle` until a stop signal; 0 then. `cycle()` True is a success; False, a ToolError or any other
    exception a failure. `jitter` is a share of each pause (0.1: ±10%). A second instance is refused
    (ToolError `busy`). `name` begins every line it says ("gitops loop")."""
    fd = _claim(name, lock_path, busy)
    try:
        with _Stop() as stop:
            failures = 0
            while not stop.requested:
                seen = _news(wake)  # before the cycle: a push while it runs starts the next one at once
                failures = 0 if _attempt(name, cycle) else failures + 1
                pause = min(retry * 2.0 ** min(failures - 1, MAX_DOUBLINGS), max_backoff) if failures else interval
                deadline = _now() + pause * (1 + random.uniform(-jitter, jitter))
                while not stop.requested:
                    left = deadline - _now()
                    if left <= 0:
                        break
                    stop.pause(left if wake is None else min(left, poll))
                    if wake is not None and _news(wake) != seen:
                        break
    finally:
        locking.unlock(fd)
    return exitcodes.OK
