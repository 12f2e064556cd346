"""When backups and recovery happen by themselves (besides `claude-docker backup create` and `claude-dr`):

* before every sync that changes the host's config: a config-scope backup of the files it will write;
* at a `claude` start, when the last full backup is older than CLAUDE_DOCKER_BACKUP_INTERVAL (seconds,
  default 3600: the one-hour recovery point), a full one in a detached process once the session's
  container runs, then a prune; and again every interval while the session lasts;
* at a `claude` start and after a failed sync, a cheap check of the config files Claude Code reads: if one
  is broken, say so and point at `claude-dr`, or run the recovery at once with CLAUDE_DOCKER_AUTO_RECOVER=1.
  At a start, a broken file holding the user's state (`.claude.json`, settings, credentials) that was not
  recovered stops the run: Claude Code would write a fresh one over it and the sync would take that, leaving
  nothing broken for `claude-dr` to find. A broken cache (stats-cache.json) only gets said: it is rebuilt.

CLAUDE_DOCKER_BACKUP_INTERVAL=0 turns the automatic backups off.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # not typing's: its import costs ~5 ms (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.paths import ClaudeHome


LATEST_FULL = "latest-full"
# How long the backup before a sync waits for the store. Another session's pre-sync backup holds it for
# milliseconds; a full backup or a prune, for minutes. The sync holds the config lock meanwhile (other
# sessions ending wait on it), so it waits out the first kind and skips its backup, with a note, for the second.
PRE_SYNC_WAIT = 2.0


def interval() -> float:
    """Seconds between full backups (0: none); a value envspec refuses (inf, nan, soon) is a ToolError, which
    a session meets in its preflight, before anything starts."""
    from claude_docker import envspec

    return envspec.get("CLAUDE_DOCKER_BACKUP_INTERVAL")


def record_full(store_root, snapshot_id: str) -> None:
    from claude_docker.fsio import write_atomic

    write_atomic(store_root / LATEST_FULL, snapshot_id.encode() + b"\n", mode=0o600)


def full_backup_due(store_root) -> bool:
    """Is the newest full backup older than the interval? One stat, no manifest read."""
    every = interval()
    if not every:
        return False
    try:
        return time.time() - os.stat(store_root / LATEST_FULL).st_mtime >= every
    except FileNotFoundError:
        return True
    except OSError:
        return False  # a broken state dir: the session reports it; a backup could not be stored either


def at_start(claude: ClaudeHome) -> bool:
    """The check every `claude` run makes before its session (cheap); True if a full backup is due, to be
    started once the session runs (so it never slows the start). Raises ToolError (125) while a file holding
    the user's state is broken: nothing may be staged or started on it."""
    from claude_docker.backup.configcheck import holds_user_state
    from claude_docker.paths import backup_dir

    broken, failure = _check(claude, "at start")
    if any(holds_user_state(key) for key, _, _ in broken):
        from claude_docker import exitcodes
        from claude_docker.errors import ToolError

        why = _describe(broken) + (f", and its automatic recovery failed ({failure})" if failure else "")
        raise ToolError(f"not starting Claude Code on a broken config (it would write a fresh one over it): {why}; "
                        "run `claude-dr` to restore it from the last good backup, or move the broken file aside "
                        "to start afresh", exitcodes.TOOL_FAILED)
    _report(broken, failure)
    return full_backup_due(backup_dir())


AUTOMATIC = "automatic-backup"
AUTOMATIC_REASON = "hourly"


def automatic_slot():
    """The lock an automatic full backup holds for its whole run (an ExitStack that releases it), or None
    while another one holds it: however short the interval, and however many sessions' timers fire, one
    automatic backup runs at a time."""
    from contextlib import ExitStack

    from claude_docker.errors import ToolError
    from claude_docker.locking import state_lock

    slot = ExitStack()
    try:
        slot.enter_context(state_lock(AUTOMATIC, timeout=0))
    except ToolError:
        return None
    return slot


def spawn_full_backup() -> None:
    """A full backup (then a prune) in a detached process, unless another session's took one meanwhile or
    one is still running."""
    from claude_docker.background import spawn_detached
    from claude_docker.paths import backup_dir

    if not full_backup_due(backup_dir()):
        return
    slot = automatic_slot()
    if slot is None:
        return
    slot.close()
    spawn_detached(["backup", "create", "--reason", AUTOMATIC_REASON, "--prune", "--quiet"])


def _say(line: str) -> None:
    print(f"claude-docker: {line}", file=sys.stderr)


def _auto_recover() -> bool:
    from claude_docker import envspec

    return envspec.get("CLAUDE_DOCKER_AUTO_RECOVER")


def _describe(broken: list[tuple[str, str, str]]) -> str:
    return " and ".join(f"{path} {defect}" for _, path, defect in broken)


def _broken(claude: ClaudeHome, when: str) -> list[tuple[str, str, str]]:
    """The config files Claude Code can't read (key, path, what is wrong); each finding counted and logged."""
    from claude_docker.backup.configcheck import defects

    broken = defects(claude)
    if broken:
        from claude_docker.obs import events
        from claude_docker.obs.catalog import observe

        observe("claude_docker_config_corruption_total", 1)
        events.emit("config.corrupt", _describe(broken), level="error", outcome="error",
                    fields={"when": when, "problems": len(broken)})
    return broken


def _recover(claude: ClaudeHome) -> str | None:
    """claude-dr's runbook, unasked; None once it recovered and verified, else why not."""
    from claude_docker.backup.recovery import disaster_recovery
    from claude_docker.errors import ToolError

    try:
        rec = disaster_recovery(claude, confirm=lambda _rec: True, stop_orphans=False, say=_say)
    except ToolError as exc:
        return exc.message
    except OSError as exc:  # the runbook records it and re-raises: here it is one line, as any failure
        return f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    failed = [c for c in rec.checks if not c.ok]
    if failed:
        return f"restored, but a check failed: {failed[0].name}: {failed[0].detail}"
    _say(f"recovered {len(rec.restored)} file(s) in {rec.seconds:.2f}s (trace {rec.trace_id})")
    return None


def _check(claude: ClaudeHome, when: str) -> tuple[list[tuple[str, str, str]], str | None]:
    """(the config files still broken, why the automatic recovery failed): with CLAUDE_DOCKER_AUTO_RECOVER=1
    a broken config is recovered first, and nothing is left broken once that verified."""
    broken = _broken(claude, when)
    if not broken or not _auto_recover():
        return broken, None
    _say("Claude Code's config is broken; recovering it (CLAUDE_DOCKER_AUTO_RECOVER=1)")
    failure = _recover(claude)
    return (broken if failure else []), failure


def _report(broken: list[tuple[str, str, str]], failure: str | None) -> None:
    for _, path, defect in broken:
        _say(f"Claude Code's config is broken: {path} {defect}")
    if failure:
        _say(f"automatic recovery failed: {failure}")
    elif broken:
        _say("run `claude-dr` to restore it from the last good backup (CLAUDE_DOCKER_AUTO_RECOVER=1 does that "
             "by itself)")


def check_config(claude: ClaudeHome, when: str) -> bool:
    """True if the config is sound (or was recovered); else says what is broken and how to recover."""
    broken, failure = _check(claude, when)
    _report(broken, failure)
    return not broken


def before_sync(claude: ClaudeHome, reason: str = "pre-sync", what: str = "sync") -> str | None:
    """A config-scope backup before sync (or a GitOps apply: `what`) writes the host's config; a warning line
    if it failed (the writer goes on: its own writes are atomic, and what it brings matters more)."""
    if not interval():
        return None
    broken = _broken(claude, "before sync")
    if broken:
        # A backup of this state is no recovery point (verify skips it), and the sync never replaces a broken
        # file, which stays for claude-dr: record nothing a recovery could mistake for the newest state.
        return f"no backup before {what}: Claude Code's config was broken ({_describe(broken)})"
    from claude_docker.backup.create import create
    from claude_docker.backup.store import StoreBusy
    from claude_docker.errors import ToolError

    try:
        create(claude, reason, "config", lock_timeout=PRE_SYNC_WAIT)
    except StoreBusy as exc:
        return f"no backup before {what}: {exc.message} (the {what.split()[-1]} went on without one)"
    except ToolError as exc:
        return f"the backup before {what} failed: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - whatever a damaged store does, the session's changes still go back
        return f"the backup before {what} failed: {type(exc).__name__}: {exc}"
    return None
