"""The one locking discipline: a kernel lock (flock) on a separate `.lock` file, always with a timeout,
released by the OS if its holder dies. Held only around read-merge-write of shared files.

The config lock lives beside the Claude config it guards, keyed by its real path, so every process
that syncs that config excludes every other, whatever its state dir or spelling of the path.

flock straight from fcntl, as filelock did it (earlier versions used filelock: the same lock files and the
same kernel lock, so old and new versions exclude each other): its import cost ~40 ms of a session's sync.
The lock file is never removed: a waiter holding a descriptor of an unlinked file would lock nothing.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.paths import ensure_private_dir, state_dir

DEFAULT_TIMEOUT = 30.0
CONFIG_LOCK = ".claude-docker-sync.lock"
# Waiting polls: short sleeps at first (most holders hold for milliseconds), then at most this long.
MAX_POLL = 0.05


def _acquire(lock_path: Path, timeout: float, code: int) -> int | None:
    """A descriptor holding the lock, or None once `timeout` seconds passed without it. A lock that can't be
    taken at all (a link or a FIFO in its place, no permission) is ToolError(code), one line."""
    # O_NONBLOCK: a FIFO put where the lock file belongs must not block the open; O_NOFOLLOW: nor a link.
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        from claude_docker.errors import describe

        raise ToolError(f"cannot take the lock: {describe(exc)}", code) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ToolError(f"the lock {lock_path} is not a regular file", code)
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError as exc:  # held by another open of the file, in this process or another
                if exc.errno not in (errno.EAGAIN, errno.EACCES):  # (EACCES: some network file systems)
                    raise
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(pause, left))
            pause = min(pause * 2, MAX_POLL)
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


@contextmanager
def locked(lock_path: Path, timeout: float = DEFAULT_TIMEOUT, code: int = exitcodes.FAILURE) -> Iterator[None]:
    fd = _acquire(lock_path, timeout, code)
    if fd is None:
        raise ToolError(f"timed out after {timeout:g}s waiting for the lock {lock_path}", code)
    try:
        yield
    finally:
        unlock(fd)


def try_lock(lock_path: Path, code: int = exitcodes.FAILURE) -> int | None:
    """The lock at once, as an open descriptor, or None while another holds it: for a process that must be
    the only one of its kind for as long as it runs (the GitOps loop). Released by `unlock`, or by its end."""
    return _acquire(lock_path, 0.0, code)


def unlock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)  # released even if a forked child still holds a copy of fd
    finally:
        os.close(fd)


def state_lock(name: str, timeout: float = DEFAULT_TIMEOUT, code: int = exitcodes.FAILURE):
    """A lock on the tool's own state (metrics fold, exporters, log rotation)."""
    return locked(ensure_private_dir(state_dir() / "locks") / f"{name}.lock", timeout, code)


def config_lock(config_dir: Path, timeout: float = DEFAULT_TIMEOUT, code: int = exitcodes.FAILURE):
    """The lock every writer of one Claude config holds: sync out, and later restore and GitOps."""
    real = Path(os.path.realpath(config_dir))
    real.mkdir(mode=0o700, parents=True, exist_ok=True)
    return locked(real / CONFIG_LOCK, timeout, code)
