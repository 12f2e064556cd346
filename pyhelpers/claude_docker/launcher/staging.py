"""Sync in: the host's Claude Code state staged for one session.

The session sees Claude Code's state at the host's own paths, assembled from two parts:

* Directories of the config dir (`projects/`, `plugins/`, `skills/`, …; gigabytes of transcripts) are
  bind-mounted straight from the host, so nothing is copied and transcripts land on the host as they are
  written, exactly as natively. `projects/` is created first if missing so no transcript is ever staged.
  How each is mounted (read-write, read-only, or not at all) is boundary/policy.dir_mode's answer.
* Top-level files (`.claude.json`, `settings.json`, `.credentials.json`, `history.jsonl`, `CLAUDE.md`, …)
  are copied into the session's staging HOME, because Claude Code rewrites them whole and concurrent
  sessions sharing one copy lose updates or corrupt it, with a base copy each for the 3-way merge that
  brings them back (syncout.py).
* Per-process state (`sessions/`, `shell-snapshots/`, `ide/`, `session-env/`, …) stays inside the container.
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.boundary import policy, transcripts
from claude_docker.errors import ToolError
from claude_docker.fsio import is_transient, signature
from claude_docker.paths import ClaudeHome, ensure_private_dir

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.sessiondir import SessionDir

ALWAYS_SHARED = ("projects",)


def kind_of(name: str) -> str:
    if name.endswith(".json"):
        return "json"
    if name.endswith(".jsonl"):
        return "log"
    return "file"


class Staging(namedtuple("Staging", "claude home session")):
    """Where one session's view of Claude Code's state is staged (`session`), and where the session sees it:
    the host's own paths (`claude`, and `home`, the host's HOME, which is also the container's)."""

    __slots__ = ()

    @property
    def config_key(self) -> str:
        return "config" if self.claude.custom else "home/.claude"

    @property
    def claude_json_key(self) -> str:
        return "config/.claude.json" if self.claude.custom else "home/.claude.json"

    def staging_mounts(self) -> list[tuple[Path, Path]]:
        """(staged source, container target) of the staged trees, outermost first."""
        mounts = [(self.session.home, self.home)]
        if self.claude.custom:
            mounts.append((self.session.config, self.claude.config_dir))
        return mounts


# tracked: the staged files' records; shared_dirs: (host source, container target, read-only); mounted:
# their names; warnings: shared dirs the session will not be able to write to; since_ns: when it began
# (what changed in the shared dirs after that is the session's to review, by ctime, which it can't set back).
# transcripts: the one projects/ folder the session may write (its cwd's), or None if all of projects/ is writable.
SyncIn = namedtuple("SyncIn", "tracked shared_dirs mounted warnings since_ns transcripts")


def transcript_dir_name(cwd: Path) -> str:
    """Claude Code's folder under projects/ for a working directory: non-alphanumerics become '-'."""
    return "".join(c if c.isalnum() else "-" for c in str(cwd))


MAX_TRANSCRIPT_DIR_NAME = 200  # longer names are truncated and hashed by Claude Code: we can't predict them


def own_transcripts(claude: ClaudeHome, cwd: Path) -> str | None:
    """The projects/ folder a session in `cwd` writes its transcripts to, made now if missing. Only it is
    writable in the session: the transcripts of every other project are read-only there, so a session can't
    plant lines that another project's native `--resume` would obey (and only it needs checking at the end)."""
    name = transcript_dir_name(cwd)
    if len(name) > MAX_TRANSCRIPT_DIR_NAME:
        return None
    path = claude.config_dir / "projects" / name
    path.mkdir(mode=0o700, exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise ToolError(f"{path} is not a directory (a link left by an earlier session?); remove it",
                        exitcodes.TOOL_FAILED)
    return name


def check_writable(staging: Staging, shared: list[tuple[Path, Path, bool]], cwd: Path) -> list[str]:
    """Claude Code exits 0 and silently saves nothing where it can't write: refuse to start a session
    whose transcripts or config could not be saved (e.g. left root-owned by a `sudo claude`), and
    return a warning for every other shared dir it could not write to."""
    claude = staging.claude
    must = [claude.config_dir, claude.config_dir / "projects", staging.home if not claude.custom else None]
    name = transcript_dir_name(cwd)
    if len(name) <= MAX_TRANSCRIPT_DIR_NAME:
        must.append(claude.config_dir / "projects" / name)
    blocked = [p for p in must if p is not None and p.exists() and not os.access(p, os.W_OK)]
    if blocked:
        user = os.environ.get("USER") or str(os.getuid())
        raise ToolError(f"Claude Code could not save its state: {blocked[0]} is not writable by you "
                        f"(left by `sudo claude`?); fix: sudo chown -R {user} {claude.config_dir}",
                        exitcodes.TOOL_FAILED)
    return [f"{src} is not writable by you: Claude Code can't save to {dst.name}/"
            for src, dst, read_only in shared if not read_only and not os.access(src, os.W_OK)]


def sync_in(staging: Staging, cwd: Path) -> SyncIn:
    import time

    since_ns = time.time_ns() - transcripts.CTIME_SLACK_NS
    session, claude = staging.session, staging.claude
    staged_config = session.path / staging.config_key
    for d in (session.home, staged_config, session.base):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        ensure_private_dir(claude.config_dir)
        for name in ALWAYS_SHARED:
            (claude.config_dir / name).mkdir(mode=0o700, exist_ok=True)
        own = own_transcripts(claude, cwd)
        entries = sorted(os.scandir(claude.config_dir), key=lambda e: e.name)
    except OSError as exc:
        raise ToolError(f"cannot prepare Claude's config dir {claude.config_dir}: {exc.strerror}",
                        exitcodes.TOOL_FAILED) from None

    tracked: list[dict] = []
    shared: list[tuple[Path, Path, bool]] = []
    mounted: list[str] = []
    relaxed = policy.relaxed()
    for entry in entries:
        name = entry.name
        mode = policy.dir_mode(name, relaxed) if entry.is_dir() else None
        if mode == policy.LOCAL or is_transient(name):
            continue
        if mode is not None:
            source, target = Path(os.path.realpath(entry.path)), claude.config_dir / name
            if name == "projects" and own is not None:
                shared += [(source, target, True), (source / own, target / own, False)]
            else:
                shared.append((source, target, mode == policy.READ_ONLY))
            mounted.append(name)
        elif entry.is_file():
            tracked.append(_stage(session, Path(entry.path), f"{staging.config_key}/{name}"))
    if not any(t["key"] == staging.claude_json_key for t in tracked):
        tracked.append(_stage(session, claude.claude_json, staging.claude_json_key))
    return SyncIn(tracked, shared, mounted, check_writable(staging, shared, cwd), since_ns, own)


def sync_state(staging: Staging, synced: SyncIn) -> dict:
    """What the session manifest must hold for sync_out to finish this session, now or after a crash."""
    return {"host_config": str(staging.claude.config_dir), "config_key": staging.config_key,
            "claude_json": str(staging.claude.claude_json), "mounted": synced.mounted, "tracked": synced.tracked,
            "sync_since_ns": synced.since_ns, "transcripts": synced.transcripts}


def host_claude(manifest: dict) -> ClaudeHome:
    """The host's Claude state a session syncs with, from its manifest."""
    config_dir = Path(manifest["host_config"])
    custom = manifest["config_key"] == "config"
    default = config_dir / ".claude.json" if custom else config_dir.parent / ".claude.json"
    return ClaudeHome(config_dir, Path(manifest.get("claude_json") or default), custom)


def _stage(session: SessionDir, host: Path, key: str) -> dict:
    kind = kind_of(host.name)
    staged = session.path / key
    record: dict[str, object] = {"key": key, "host": str(host), "kind": kind, "base_size": None, "staged_stat": None}
    try:
        data = host.read_bytes()
        mode = host.stat().st_mode & 0o777
    except FileNotFoundError:
        return record
    except OSError as exc:
        raise ToolError(f"cannot read {host}: {exc.strerror}", exitcodes.TOOL_FAILED) from None
    staged.write_bytes(data)
    os.chmod(staged, mode | stat.S_IRUSR | stat.S_IWUSR)
    if kind != "log":
        base = session.base / key
        base.parent.mkdir(parents=True, exist_ok=True)
        base.write_bytes(data)
    record["base_size"] = len(data)
    record["staged_stat"] = signature(os.lstat(staged))
    return record
