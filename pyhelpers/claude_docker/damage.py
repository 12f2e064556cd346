"""The tool's own state found damaged: set aside in one place, with one line, for its owner to rebuild.

A session manifest that is not what this version writes, a stray half-made session dir, a metrics state
or an exporter cursor that doesn't parse: each is moved to `<state>/damaged/` (private, like the state
dir; a session dir there may hold copies of credentials) with one line on stderr naming it, and an event.
Its owner then goes on as if it were missing, in the way that is safe for it (sessiondir, promstate,
cursors). Nothing here ever stops a command: a damaged file that can't even be moved is said and skipped.
`doctor` and `health` list what is there (check()).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from claude_docker.paths import ensure_private_dir, state_dir


def damaged_dir() -> Path:
    return state_dir() / "damaged"


def set_aside(path: Path, why: str, then: str) -> Path | None:
    """Move `path` (a file or a dir) into damaged/; `then` says what happens instead. None if it was gone
    already (another process set it aside first) or could not be moved."""
    target = damaged_dir() / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.urandom(3).hex()}-{path.name}"
    try:
        ensure_private_dir(damaged_dir())
        os.rename(path, target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        from claude_docker.errors import describe

        _say(f"{path} is damaged ({why}) and could not be moved aside ({describe(exc)}); {then}")
        return None
    _say(f"{path} was damaged ({why}): moved aside to {target}; {then}")
    return target


def _say(line: str) -> None:
    from claude_docker import ui
    from claude_docker.obs import events

    ui.error("warning: " + line)
    events.emit("state.damaged", line, level="warn", outcome="error")


def check():
    """doctor's and health's report: what was set aside (a warning: nothing is stuck, but look)."""
    from claude_docker.checks import Check

    folder = damaged_dir()
    try:
        found = sorted(os.listdir(folder))
    except OSError:
        found = []
    if not found:
        return Check("damaged state", "ok", "none of claude-docker's own state was found damaged")
    return Check("damaged state", "warn", f"{len(found)} damaged item(s) of claude-docker's state were moved aside "
                 f"and rebuilt, the latest {found[-1]}", f"look at them in {folder} if you wish, then delete them")
