"""When backups and recovery happen by themselves (besides `claude-docker backup create` and `claude-dr`):

* before every sync that changes the host's config: a config-scope backup of the files it will write;
* at a `claude` start, when the last full backup is older than CLAUDE_DOCKER_BACKUP_INTERVAL (seconds,
  default 3600: the one-hour recovery point), a full one in a detached process once the session's
  container runs, then a prune; and again every interval while the session lasts;
* at a `claude` start and after a failed sync, a cheap check of the config files Claude Code reads: if one
  is broken, say so and point at `claude-dr`, or run the recovery at once with CLAUDE_DOCKER_AUTO_RECOVER=1.

CLAUDE_DOCKER_BACKUP_INTERVAL=0 turns the automatic backups off.
"""

from __future__ import annotations

import os
import sys
import time

from claude_docker.paths import ClaudeHome

DEFAULT_INTERVAL = 3600.0
LATEST_FULL = "latest-full"


def interval() -> float:
    try:
        return max(float(os.environ.get("CLAUDE_DOCKER_BACKUP_INTERVAL") or DEFAULT_INTERVAL), 0.0)
    except ValueError:
        return DEFAULT_INTERVAL


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
    """The check every `claude` run makes before its session (cheap, never in the way); True if a full
    backup is due, to be started once the session runs (so it never slows the start)."""
    from claude_docker.paths import backup_dir

    check_config(claude, "at start")
    return full_backup_due(backup_dir())


def spawn_full_backup() -> None:
    """A full backup (then a prune) in a detached process, unless another session's took one meanwhile."""
    from claude_docker.background import spawn_detached
    from claude_docker.paths import backup_dir

    if full_backup_due(backup_dir()):
        spawn_detached(["backup", "create", "--reason", "hourly", "--prune", "--quiet"])


def check_config(claude: ClaudeHome, when: str) -> bool:
    """True if the config is sound (or was recovered); else says what is broken and how to recover."""
    from claude_docker.backup.configcheck import quick_check

    problems = quick_check(claude)
    if not problems:
        return True
    from claude_docker.obs import events
    from claude_docker.obs.catalog import observe

    observe("claude_docker_config_corruption_total", 1)
    events.emit("config.corrupt", "; ".join(problems), level="error", outcome="error",
                fields={"when": when, "problems": len(problems)})
    for problem in problems:
        print(f"claude-docker: Claude Code's config is broken: {problem}", file=sys.stderr)
    if os.environ.get("CLAUDE_DOCKER_AUTO_RECOVER") != "1":
        print("claude-docker: run `claude-dr` to restore it from the last good backup "
              "(CLAUDE_DOCKER_AUTO_RECOVER=1 does that by itself)", file=sys.stderr)
        return False
    from claude_docker.backup.recovery import disaster_recovery
    from claude_docker.errors import ToolError

    try:
        rec = disaster_recovery(claude, confirm=lambda _rec: True, stop_orphans=False,
                                say=lambda line: print(f"claude-docker: {line}", file=sys.stderr))
    except ToolError as exc:
        print(f"claude-docker: automatic recovery failed: {exc.message}", file=sys.stderr)
        return False
    print(f"claude-docker: recovered {len(rec.restored)} file(s) in {rec.seconds:.2f}s "
          f"(trace {rec.trace_id})", file=sys.stderr)
    return rec.outcome == "recovered"


def before_sync(claude: ClaudeHome) -> str | None:
    """A config-scope backup before sync writes the host's config; a warning line if it failed (the sync
    goes on: its own writes are atomic, and the session's changes matter more than this backup)."""
    if not interval():
        return None
    from claude_docker.backup.create import create
    from claude_docker.errors import ToolError

    try:
        create(claude, "pre-sync", "config")
    except ToolError as exc:
        return f"the backup before sync failed: {exc.message}"
    except Exception as exc:  # whatever a damaged store does to it, the session's changes still go back
        return f"the backup before sync failed: {type(exc).__name__}: {exc}"
    return None
