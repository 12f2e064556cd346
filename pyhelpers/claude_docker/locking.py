"""The one locking discipline: a kernel lock (flock, via filelock) on a separate `.lock` file, always with a
timeout, released by the OS if its holder dies. Held only around read-merge-write of shared files.

The config lock lives beside the Claude config it guards, keyed by its real path, so every process
that syncs that config excludes every other, whatever its state dir or spelling of the path. filelock
is imported only when a lock is taken: ~45 ms, and most sessions end with nothing to write.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.paths import ensure_private_dir, state_dir

DEFAULT_TIMEOUT = 30.0
CONFIG_LOCK = ".claude-docker-sync.lock"


@contextmanager
def locked(lock_path: Path, timeout: float = DEFAULT_TIMEOUT, code: int = exitcodes.FAILURE) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path), timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise ToolError(f"timed out after {timeout:g}s waiting for the lock {lock_path}", code) from None
    try:
        yield
    finally:
        lock.release()


def state_lock(name: str, timeout: float = DEFAULT_TIMEOUT, code: int = exitcodes.FAILURE):
    """A lock on the tool's own state (metrics fold, exporters, log rotation)."""
    return locked(ensure_private_dir(state_dir() / "locks") / f"{name}.lock", timeout, code)


def config_lock(config_dir: Path, timeout: float = DEFAULT_TIMEOUT, code: int = exitcodes.FAILURE):
    """The lock every writer of one Claude config holds: sync out, and later restore and GitOps."""
    real = Path(os.path.realpath(config_dir))
    real.mkdir(mode=0o700, parents=True, exist_ok=True)
    return locked(real / CONFIG_LOCK, timeout, code)
