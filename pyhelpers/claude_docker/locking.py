"""The one locking discipline: a kernel lock (flock via filelock) on a separate file under the state dir.

Held only around read-merge-write of host files, always with a timeout, released by the OS if the
holder dies. Imported lazily: filelock costs ~45 ms to import and most sessions end with nothing to write.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.paths import ensure_private_dir, state_dir

DEFAULT_TIMEOUT = 30.0


def lock_name_for(path: Path) -> str:
    """One lock per host Claude config, so two different CLAUDE_CONFIG_DIRs never wait on each other."""
    return "config-" + hashlib.sha256(str(path).encode()).hexdigest()[:16]


@contextmanager
def locked(name: str, timeout: float = DEFAULT_TIMEOUT, code: int = exitcodes.FAILURE) -> Iterator[None]:
    from filelock import FileLock, Timeout

    lock_path = ensure_private_dir(state_dir() / "locks") / f"{name}.lock"
    lock = FileLock(str(lock_path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise ToolError(f"timed out after {timeout:g}s waiting for the lock {lock_path}", code) from None
    try:
        yield
    finally:
        lock.release()
