"""Is a wrapper process still alive? A pid plus its start time, so a reused pid is not mistaken for it."""

from __future__ import annotations

import os


def host_name() -> str:
    return os.uname().nodename


def process_start(pid: int) -> str:
    """The kernel's start time of `pid` (clock ticks since boot), or "" where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    # The command name (field 2) may contain spaces and parentheses: fields restart after the last ')'.
    return stat[stat.rfind(b")") + 2:].split()[19].decode()


def is_alive(pid: int, start: str) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or process_start(pid) in ("", start)
