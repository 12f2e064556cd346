"""Config sync: the host's Claude Code state into a session, and the session's changes back out.

The session sees Claude Code's state at the host's own paths, assembled from two parts:

* Directories of the config dir (`projects/`, `plugins/`, `skills/`, …; gigabytes of transcripts) are
  bind-mounted straight from the host, so nothing is copied and transcripts land on the host as they are
  written, exactly as natively. `projects/` is created first if missing so no transcript is ever staged.
* Top-level files (`.claude.json`, `settings.json`, `.credentials.json`, `history.jsonl`, `CLAUDE.md`, …)
  are copied into the session's staging HOME, because Claude Code rewrites them whole and concurrent
  sessions sharing one copy lose updates or corrupt it. After the session each changed file is merged
  back under the config lock:
    - `*.json`: validated, then a 3-way merge against the copy the session started from (jsonmerge);
    - `*.jsonl` (prompt history): the lines the session appended are appended to the host's file;
    - anything else: taken if the host's copy did not change meanwhile, else the later writer wins.
  What the session wrote that is invalid is never applied: it is kept aside and reported.
* Per-process state (`sessions/`, `shell-snapshots/`, `ide/`) stays inside the container: its pids and
  lock files mean nothing on the host.
"""

from __future__ import annotations

import os
import stat
import time
from collections import namedtuple
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.fsio import append_durable, remove_durable, write_atomic
from claude_docker.jsonmerge import MISSING, merge3, same
from claude_docker.paths import ClaudeHome, ensure_private_dir, state_dir
from claude_docker.sessiondir import SessionDir

EPHEMERAL = frozenset({"sessions", "shell-snapshots", "ide"})
ALWAYS_SHARED = ("projects",)
MAX_STAGED_FILE = 64 * 1024 * 1024


def _skipped(name: str) -> bool:
    # Lock files and half-written temp files of any writer, ours included.
    return name.endswith(".lock") or ".tmp" in name or ".cd-tmp-" in name


def kind_of(name: str) -> str:
    if name.endswith(".json"):
        return "json"
    if name.endswith(".jsonl"):
        return "log"
    return "file"


def _signature(path: Path) -> list[int] | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


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


# tracked: the staged files' records; shared_dirs: (host source, container target); mounted: their names;
# warnings: shared dirs the session will not be able to write to.
SyncIn = namedtuple("SyncIn", "tracked shared_dirs mounted warnings")


def transcript_dir_name(cwd: Path) -> str:
    """Claude Code's folder under projects/ for a working directory: non-alphanumerics become '-'."""
    return "".join(c if c.isalnum() else "-" for c in str(cwd))


def check_writable(staging: Staging, shared: list[tuple[Path, Path]], cwd: Path) -> list[str]:
    """Claude Code exits 0 and silently saves nothing where it can't write: refuse to start a session
    whose transcripts or config could not be saved (e.g. left root-owned by a `sudo claude`), and
    return a warning for every other shared dir it could not write to."""
    claude = staging.claude
    must = [claude.config_dir, claude.config_dir / "projects", staging.home if not claude.custom else None]
    name = transcript_dir_name(cwd)
    if len(name) <= 200:  # longer names are truncated and hashed by Claude Code
        must.append(claude.config_dir / "projects" / name)
    blocked = [p for p in must if p is not None and p.exists() and not os.access(p, os.W_OK)]
    if blocked:
        user = os.environ.get("USER") or str(os.getuid())
        raise ToolError(f"Claude Code could not save its state: {blocked[0]} is not writable by you "
                        f"(left by `sudo claude`?); fix: sudo chown -R {user} {claude.config_dir}",
                        exitcodes.TOOL_FAILED)
    return [f"{src} is not writable by you: Claude Code can't save to {dst.name}/"
            for src, dst in shared if not os.access(src, os.W_OK)]


def sync_in(staging: Staging, cwd: Path) -> SyncIn:
    session, claude = staging.session, staging.claude
    staged_config = session.path / staging.config_key
    for d in (session.home, staged_config, session.base):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        ensure_private_dir(claude.config_dir)
        for name in ALWAYS_SHARED:
            (claude.config_dir / name).mkdir(mode=0o700, exist_ok=True)
        entries = sorted(os.scandir(claude.config_dir), key=lambda e: e.name)
    except OSError as exc:
        raise ToolError(f"cannot prepare Claude's config dir {claude.config_dir}: {exc.strerror}",
                        exitcodes.TOOL_FAILED) from None

    tracked: list[dict] = []
    shared: list[tuple[Path, Path]] = []
    mounted: list[str] = []
    for entry in entries:
        name = entry.name
        if name in EPHEMERAL or _skipped(name):
            continue
        if entry.is_dir():
            shared.append((Path(os.path.realpath(entry.path)), claude.config_dir / name))
            mounted.append(name)
        elif entry.is_file():
            tracked.append(_stage(session, Path(entry.path), f"{staging.config_key}/{name}"))
    if not any(t["key"] == staging.claude_json_key for t in tracked):
        tracked.append(_stage(session, claude.claude_json, staging.claude_json_key))
    return SyncIn(tracked, shared, mounted, check_writable(staging, shared, cwd))


def sync_state(staging: Staging, synced: SyncIn) -> dict:
    """What the session manifest must hold for sync_out to finish this session, now or after a crash."""
    return {"host_config": str(staging.claude.config_dir), "config_key": staging.config_key,
            "mounted": synced.mounted, "tracked": synced.tracked}


def _stage(session: SessionDir, host: Path, key: str) -> dict:
    kind = kind_of(host.name)
    staged = session.path / key
    record = {"key": key, "host": str(host), "kind": kind, "base_size": None, "staged_stat": None}
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
    record["staged_stat"] = _signature(staged)
    return record


class SyncReport:
    def __init__(self) -> None:
        self.files = 0  # host files written, appended to or removed
        self.bytes = 0
        self.merges = 0  # files merged with changes the host got meanwhile
        self.conflicts: list[str] = []
        self.quarantined: list[str] = []
        self.seconds = 0.0

    def messages(self) -> list[str]:
        lines = [f"conflict in {c}" for c in self.conflicts]
        lines += [f"not applied (kept aside): {q}" for q in self.quarantined]
        return lines


class _Invalid(Exception):
    pass


def _read_staged(path: Path) -> bytes | None:
    """What the session left at `path`: a regular file's bytes, or None if it is gone.

    Never follows a link the container made (it could point at any host file the user can read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _Invalid(f"unreadable ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _Invalid("not a regular file")
        if st.st_size > MAX_STAGED_FILE:
            raise _Invalid(f"larger than {MAX_STAGED_FILE >> 20} MiB")
        return f.read()


def _read_host(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class _Syncer:
    """Applies one session's changes to the host, file by file, under the config lock."""

    def __init__(self, session: SessionDir, report: SyncReport):
        self.session = session
        self.report = report
        self.sid = session.session_id

    def keep_aside(self, area: str, name: str, data: bytes) -> Path:
        folder = ensure_private_dir(state_dir() / area / self.sid)
        target = folder / name
        write_atomic(target, data, mode=0o600)
        return target

    def write(self, host: Path, data: bytes, mode_from: Path) -> None:
        mode = None  # an existing file keeps its mode; a new one is made private (config holds secrets)
        if not host.exists():
            mode = os.lstat(mode_from).st_mode & 0o700 if mode_from.exists() else 0o600
        host.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(host, data, mode=mode)
        self.report.files += 1
        self.report.bytes += len(data)

    def remove(self, host: Path) -> None:
        if host.exists():
            remove_durable(host)
            self.report.files += 1

    def quarantine(self, name: str, why: str, data: bytes | None = None) -> None:
        where = f" in {self.keep_aside('quarantine', name, data)}" if data is not None else ""
        self.report.quarantined.append(f"{name}: {why}{where}")

    # --- one function per kind -------------------------------------------------------------------

    def sync_json(self, rec: dict, staged: Path, host: Path, name: str) -> None:
        import orjson  # here, not at the top: sessions that change no JSON never pay its import

        ours_raw = _read_staged(staged)
        base_path = self.session.base / rec["key"]
        base = orjson.loads(base_path.read_bytes()) if rec["base_size"] is not None and base_path.exists() else MISSING
        ours = MISSING
        if ours_raw is not None:
            try:
                ours = orjson.loads(ours_raw)
            except orjson.JSONDecodeError as exc:
                return self.quarantine(name, f"invalid JSON ({exc})", ours_raw)
            if isinstance(base, dict) and not isinstance(ours, dict):
                return self.quarantine(name, f"a JSON {type(ours).__name__} where an object belongs", ours_raw)
        host_raw = _read_host(host)
        theirs = MISSING
        if host_raw is not None:
            try:
                theirs = orjson.loads(host_raw)
            except orjson.JSONDecodeError:
                # Corrupted on the host meanwhile: keep that aside and apply the session's changes to the base.
                self.quarantine(name + ".host", "the host's copy was invalid JSON; replaced", host_raw)
                theirs, host_raw = base, None
        merged, conflicts = merge3(base, ours, theirs)
        if conflicts:
            self.report.conflicts += [f"{name}: {c.describe()}" for c in conflicts]
            if host_raw is not None:
                self.keep_aside("conflicts", name + ".host", host_raw)
            if ours_raw is not None:
                self.keep_aside("conflicts", name + ".session", ours_raw)
        if merged is MISSING:
            return self.remove(host)
        if host_raw is not None and same(merged, theirs):
            return
        if not same(merged, ours) or not same(theirs, base):
            self.report.merges += 1
        # Unchanged-by-merge output keeps the session's bytes exactly; a real merge is re-serialised.
        data = ours_raw if ours_raw is not None and same(merged, ours) else orjson.dumps(merged, option=orjson.OPT_INDENT_2)
        self.write(host, data, staged)

    def sync_log(self, rec: dict, staged: Path, host: Path, name: str) -> None:
        import orjson

        ours_raw = _read_staged(staged)
        base_size = rec["base_size"] or 0
        if ours_raw is None or len(ours_raw) <= base_size:
            return  # history is append-only: a session never shortens the host's
        tail = ours_raw[base_size:]
        tail = tail[: tail.rfind(b"\n") + 1]  # whole lines only
        good, bad = [], []
        for line in tail.splitlines(keepends=True):
            try:
                orjson.loads(line)
                good.append(line)
            except orjson.JSONDecodeError:
                if line.strip():
                    bad.append(line)
        if bad:
            self.quarantine(name, f"{len(bad)} invalid line(s)", b"".join(bad))
        data = b"".join(good)
        if not data:
            return
        host_raw = _read_host(host) or b""
        if host_raw.endswith(data):
            return  # already appended by an earlier, interrupted sync of this session
        if host_raw and not host_raw.endswith(b"\n"):
            data = b"\n" + data
        host.parent.mkdir(parents=True, exist_ok=True)
        append_durable(host, data)
        self.report.files += 1
        self.report.bytes += len(data)

    def sync_file(self, rec: dict, staged: Path, host: Path, name: str) -> None:
        ours = _read_staged(staged)
        base_path = self.session.base / rec["key"]
        base = base_path.read_bytes() if rec["base_size"] is not None and base_path.exists() else None
        theirs = _read_host(host)
        if ours == theirs or ours == base:
            return
        if theirs != base:
            if ours is None:
                self.report.conflicts.append(f"{name}: kept the host's edit (an edit beats a deletion)")
                return
            self.report.conflicts.append(f"{name}: kept the session's version (the later writer wins)")
            if theirs is not None:
                self.keep_aside("conflicts", name + ".host", theirs)
            self.report.merges += 1
        if ours is None:
            return self.remove(host)
        self.write(host, ours, staged)

    def sync_new_dir(self, staged: Path, host: Path) -> None:
        """A directory the session created that was not mounted: copy in what the host lacks."""
        for dirpath, dirnames, filenames in os.walk(staged):
            rel = Path(dirpath).relative_to(staged)
            for fname in filenames:
                src = Path(dirpath) / fname
                dst = host / rel / fname
                if dst.exists() or _skipped(fname):
                    continue
                try:
                    data = _read_staged(src)
                except _Invalid as exc:
                    self.quarantine(str(rel / fname), str(exc))
                    continue
                if data is not None:
                    self.write(dst, data, src)


def pending_changes(session: SessionDir, manifest: dict) -> list[dict]:
    """Tracked files whose staged copy changed, plus top-level entries the session created."""
    changed = [r for r in manifest["tracked"] if _signature(session.path / r["key"]) != r["staged_stat"]]
    known = {r["key"] for r in manifest["tracked"]}
    config_key = manifest["config_key"]
    staged_config = session.path / config_key
    try:
        entries = sorted(os.scandir(staged_config), key=lambda e: e.name)
    except FileNotFoundError:
        entries = []
    host_config = Path(manifest["host_config"])
    for entry in entries:
        key = f"{config_key}/{entry.name}"
        if key in known or entry.name in manifest["mounted"] or entry.name in EPHEMERAL or _skipped(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            changed.append({"key": key, "host": str(host_config / entry.name), "kind": "dir"})
        else:
            changed.append({"key": key, "host": str(host_config / entry.name), "kind": kind_of(entry.name),
                            "base_size": None, "staged_stat": None})
    return changed


def sync_out(session: SessionDir, manifest: dict) -> SyncReport:
    """Apply the session's changes to the host. Raises ToolError(SYNC_FAILED) if the host can't be written."""
    started = time.perf_counter()
    report = SyncReport()
    changes = pending_changes(session, manifest)
    if changes:
        from claude_docker.locking import lock_name_for, locked

        syncer = _Syncer(session, report)
        try:
            with locked(lock_name_for(Path(manifest["host_config"])), code=exitcodes.SYNC_FAILED):
                for rec in changes:
                    staged, host = session.path / rec["key"], Path(rec["host"])
                    name = host.name
                    try:
                        if rec["kind"] == "dir":
                            syncer.sync_new_dir(staged, host)
                        else:
                            getattr(syncer, "sync_" + rec["kind"])(rec, staged, host, name)
                    except _Invalid as exc:
                        syncer.quarantine(name, str(exc))
        except OSError as exc:
            raise ToolError(f"cannot write {exc.filename or 'the host config'}: {exc.strerror}",
                            exitcodes.SYNC_FAILED) from None
    report.seconds = time.perf_counter() - started
    return report
