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
    """doctor's and health's report (a warning: nothing is stuck, but look): what was set aside, and the
    damage found now. Session dirs are set aside by their listing; a metrics state or a cursor is only
    read here, and set aside and rebuilt by the next flush, under its own lock."""
    from claude_docker.checks import Check
    from claude_docker.liveness import host_name
    from claude_docker.sessiondir import all_sessions, interrupted

    interrupted(all_sessions(), host_name())
    pending = [str(p) for p in _damaged_obs_state()]
    folder = damaged_dir()
    try:
        found = sorted(os.listdir(folder))
    except OSError:
        found = []
    if not found and not pending:
        return Check("damaged state", "ok", "none of claude-docker's own state was found damaged")
    parts = [f"damaged, rebuilt at the next flush: {', '.join(pending)}"] if pending else []
    if found:
        parts.append(f"{len(found)} damaged item(s) moved aside, the latest {found[-1]}")
    return Check("damaged state", "warn", "; ".join(parts),
                 "claude-docker flush" if pending else f"look at them in {folder} if you wish, then delete them")


def _damaged_obs_state() -> list[Path]:
    import json

    from claude_docker.obs import datadog, jsonl, otlp, promstate, settings

    found = []
    state = settings.metric_state_file()
    try:
        if promstate.state_problem(json.loads(state.read_bytes())):
            found.append(state)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, RecursionError):
        found.append(state)
    folder = settings.cursor_file("-").parent
    try:
        cursors = sorted(folder.glob("*.json"))
    except OSError:
        cursors = []
    # Only what the next flush repairs: an exporter not configured now repairs its cursor when it is again
    # (cursors.load), and a warning naming a fix that does nothing would never go away.
    active = [prefix for prefix, on in (("otlp", otlp.endpoint()), ("datadog", datadog.configured())) if on]
    for path in cursors:
        if not path.name.startswith(tuple(active)):
            continue
        try:
            jsonl.Cursor.from_json(json.loads(path.read_bytes()))
        except (OSError, ValueError, RecursionError):
            found.append(path)
    return found
