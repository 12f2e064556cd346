"""Putting a backup back: decide per file, stage and verify everything, then swap it in.

Two modes:
* repair (what `claude-dr` does): bring back only what is broken: files that are missing, and config files
  that don't parse. Everything that is fine stays as it is, however much newer than the backup.
* all (`backup restore`): every file of the backup, except where the current one is plainly newer: a log
  (`*.jsonl`) that still starts with the backup's content, and OAuth credentials that expire later (refresh
  tokens are single-use: putting an old one back logs the user out) unless `force_credentials`.
Files the backup doesn't have are left alone in both.

Nothing on the host changes until every file to write has been staged beside its target (same file
system) and has hashed right. Then the current state is backed up (so a restore can be undone with
another), and each file is renamed over its target: each one is old or new whatever is killed when, and a
second run finishes what a killed one began. All of it under the config lock, which sync also takes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from contextlib import nullcontext
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.backup import scope
from claude_docker.backup.store import ChunkError, Store, in_parallel
from claude_docker.backup.configcheck import json_problem
from claude_docker.backup.verify import manifest_problems
from claude_docker.errors import ToolError
from claude_docker.fsio import fsync_dir, sync_files, write_atomic
from claude_docker.liveness import is_alive, process_start
from claude_docker.paths import ClaudeHome

STAGING_PREFIX = ".claude-docker-restore-"
# Modes come from the backup, but never setuid, setgid, sticky, or writable by others than the user.
FILE_MODES, DIR_MODES = 0o755, 0o755
CREDENTIALS = scope.CONFIG + "/.credentials.json"
MISSING = "missing"


class RestoreError(ToolError):
    """The backup could not be restored (damaged, hostile, no room); nothing on the host was changed."""


def hash_file(path: Path | str, length: int | None = None) -> str:
    """SHA-256 of a file's first `length` bytes (all of it by default)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while length is None or length > 0:
            block = f.read(1 << 20 if length is None else min(length, 1 << 20))
            if not block:
                break
            digest.update(block)
            if length is not None:
                length -= len(block)
    return digest.hexdigest()


def _expires_at(data: bytes | None) -> float:
    import orjson

    try:
        value = orjson.loads(data or b"")["claudeAiOauth"]["expiresAt"]
        return float(value)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return float("-inf")


def _read_entry(store: Store, entry: dict) -> bytes:
    return b"".join(store.get_chunk(c, n) for c, n in entry["chunks"])


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def decide(store: Store, entry: dict, target: str, mode: str, force_credentials: bool) -> tuple[str, str]:
    """(action, why) for one file: write, keep, or same."""
    key = entry["path"]
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return "write", MISSING
    if scope.must_parse(key):
        try:
            current = _read(target)
        except OSError as exc:
            return "write", f"unreadable ({exc.strerror})"
        broken = json_problem(key, current)
        if broken:
            return "write", broken
    if mode == "repair":
        return "keep", "present and sound"
    if st.st_size == entry["size"] and st.st_mtime_ns == entry["mtime_ns"]:
        return "same", ""
    if st.st_size >= entry["size"] and hash_file(target, entry["size"]) == entry["sha256"]:
        if st.st_size == entry["size"]:
            return "same", ""
        if key.endswith(".jsonl"):
            return "keep", "grew since the backup (only appended to)"
    if key == CREDENTIALS and not force_credentials:
        try:
            backed_up = _read_entry(store, entry)
        except ChunkError as exc:
            raise RestoreError(f"backup {entry['path']} is damaged: {exc}; nothing was changed",
                               exitcodes.FAILURE) from None
        if _expires_at(_read(target)) > _expires_at(backed_up):
            return "keep", "newer OAuth credentials than the backup's (use --force-credentials to replace)"
    return "write", "differs from the backup"


def _clear_stale_staging(parent: Path) -> None:
    """Staging dirs of restores that were killed: their pid is in the name."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(STAGING_PREFIX):
            continue
        pid, _, start = name[len(STAGING_PREFIX):].partition("-")
        if pid.isdigit() and not is_alive(int(pid), start.rsplit("-", 1)[0]):
            shutil.rmtree(parent / name, ignore_errors=True)


def _stage_file(store: Store, entry: dict, staged: str) -> None:
    """Write one file of the backup into the staging tree. Each chunk is checked against its content
    address as it is read, so the file is exactly the backup's."""
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for chunk_id, length in entry["chunks"]:
            view = memoryview(store.get_chunk(chunk_id, length))
            while view:
                view = view[os.write(fd, view):]
        os.fchmod(fd, entry["mode"] & FILE_MODES)
        os.utime(fd, ns=(entry["mtime_ns"], entry["mtime_ns"]))
    finally:
        os.close(fd)


def _move(staged: str, real: str, touched: set[str]) -> None:
    """Rename a staged file over its target."""
    try:
        os.replace(staged, real)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        write_atomic(Path(real), _read(staged), mode=os.stat(staged).st_mode & 0o7777)
    touched.add(os.path.dirname(real))


class _RealPaths:
    """Where each restored file really goes: a top-level file is written through a link (a dotfiles-managed
    settings.json stays a link), deeper ones into their directory's real path, resolved once per directory."""

    def __init__(self, claude: ClaudeHome):
        self.claude = claude
        self.dirs: dict[str, str] = {}
        self.roots: tuple | None = None

    def allowed(self, real: str) -> bool:
        """Within the config dir (or a top-level entry of it that is a link: a dotfiles-managed skills/ or
        settings.json), or `.claude.json` itself."""
        if self.roots is None:
            config = os.path.realpath(self.claude.config_dir)
            with os.scandir(config) as it:
                linked = [os.path.realpath(e.path) for e in it if e.is_symlink()]
            self.roots = (config, os.path.realpath(self.claude.claude_json), linked)
        config, claude_json, linked = self.roots
        return real == claude_json or real.startswith(config + os.sep) or any(
            real == root or real.startswith(root + os.sep) for root in linked)

    def __call__(self, key: str) -> str:
        target = scope.host_str(self.claude, key)
        if key.count("/") <= 1:
            return os.path.realpath(target)
        folder, name = os.path.split(target)
        real = self.dirs.get(folder)
        if real is None:
            real = self.dirs[folder] = os.path.realpath(folder)
        return os.path.join(real, name)


class Result:
    def __init__(self, snapshot_id: str):
        self.snapshot = snapshot_id
        self.written: list[tuple[str, str]] = []  # (key, why)
        self.kept: list[tuple[str, str]] = []
        self.same = 0
        self.pre_restore: str | None = None
        self.bytes = 0

    def to_json(self) -> dict:
        return {"snapshot": self.snapshot, "written": [{"path": k, "why": w} for k, w in self.written],
                "kept": [{"path": k, "why": w} for k, w in self.kept], "unchanged": self.same,
                "pre_restore_backup": self.pre_restore, "bytes": self.bytes}


def restore(manifest: dict, claude: ClaudeHome, mode: str = "all", force_credentials: bool = False,
            store: Store | None = None, progress=None, backup_first: bool = True, dry_run: bool = False) -> Result:
    from claude_docker.backup.create import create
    from claude_docker.locking import config_lock

    store = store or Store()
    problems = manifest_problems(manifest)
    if problems:
        raise RestoreError(f"refusing backup {manifest.get('id')}: {problems[0]}", exitcodes.FAILURE)
    result = Result(manifest["id"])
    parent = Path(os.path.realpath(claude.config_dir)).parent
    if not dry_run:
        parent.mkdir(parents=True, exist_ok=True)
    # A dry run changes nothing, not even by creating the config dir that holds the lock.
    with nullcontext() if dry_run else config_lock(claude.config_dir):
        if not dry_run:
            _clear_stale_staging(parent)
        plan = []
        for entry in manifest["entries"]:
            if entry["type"] != "file":
                continue
            action, why = decide(store, entry, scope.host_str(claude, entry["path"]), mode, force_credentials)
            if action == "write":
                plan.append((entry, why))
            elif action == "keep":
                result.kept.append((entry["path"], why))
            else:
                result.same += 1
        missing_dirs = [e for e in manifest["entries"] if e["type"] == "dir"
                        and not os.path.isdir(scope.host_path(claude, e["path"]))]
        missing_links = [e for e in manifest["entries"] if e["type"] == "link"
                         and not os.path.lexists(scope.host_path(claude, e["path"]))]
        if dry_run or (not plan and not missing_dirs and not missing_links):
            result.written = [(e["path"], why) for e, why in plan]
            return result
        need = sum(e["size"] for e, _ in plan)
        free = shutil.disk_usage(parent).free
        if need > free:
            raise RestoreError(f"refusing backup {manifest['id']}: it needs {need >> 20} MiB and "
                               f"{parent} has {free >> 20} MiB free", exitcodes.FAILURE)
        pid = os.getpid()
        staging = parent / f"{STAGING_PREFIX}{pid}-{process_start(pid)}-{os.urandom(3).hex()}"
        staging.mkdir(mode=0o700)
        try:
            advance = progress.start(need) if progress else (lambda n: None)
            for folder in sorted({os.path.dirname(e["path"]) for e, _ in plan}):
                os.makedirs(staging / folder, exist_ok=True)

            def stage(entry: dict) -> None:
                _stage_file(store, entry, os.path.join(staging, entry["path"]))
                advance(entry["size"])

            try:
                in_parallel(stage, [e for e, _ in plan])
            except ChunkError as exc:
                raise RestoreError(f"backup {manifest['id']} is damaged: {exc}; nothing was changed",
                                   exitcodes.FAILURE) from None
            except OSError as exc:
                raise RestoreError(f"cannot stage the restore in {parent}: {exc.strerror or exc}; nothing was "
                                   "changed", exitcodes.FAILURE) from None
            if progress:
                progress.finish()
            # Durable before being renamed over what is there, so a power cut can't leave an empty file where
            # the user had one (config files always). Files that were missing are not flushed one by one:
            # the most a power cut costs there is a file to restore again, and flushing 1 GB would triple
            # the recovery time.
            sync_files([os.path.join(staging, e["path"]) for e, why in plan
                        if why != MISSING or scope.must_parse(e["path"])], parent)
            if backup_first and (os.path.lexists(claude.config_dir) or os.path.lexists(claude.claude_json)):
                result.pre_restore = create(claude, "pre-restore", manifest["scope"], store)["id"]
            try:
                _swap_in(manifest, claude, staging, plan, missing_dirs, missing_links)
            except OSError as exc:
                where = f" ({exc.filename})" if exc.filename else ""
                raise RestoreError(f"the restore stopped part way: {exc.strerror or exc}{where}; every file is "
                                   "whole, old or new: fix that and run it again", exitcodes.FAILURE) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    result.written = [(e["path"], why) for e, why in plan]
    result.bytes = need
    return result


def _swap_in(manifest: dict, claude: ClaudeHome, staging: Path, plan: list, missing_dirs: list,
             missing_links: list) -> None:
    touched: set[str] = set()
    for entry in sorted(missing_dirs, key=lambda e: e["path"]):
        where = scope.host_path(claude, entry["path"])
        where.mkdir(parents=True, exist_ok=True)
        os.chmod(where, entry["mode"] & DIR_MODES | 0o700)  # never one we could not write the rest into
        touched.add(str(where.parent))
    for entry in missing_links:
        where = scope.host_path(claude, entry["path"])
        where.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(entry["target"], where)
        touched.add(str(where.parent))
    real_path = _RealPaths(claude)
    targets = [(os.path.join(staging, entry["path"]), real_path(entry["path"])) for entry, _ in plan]
    reals = [real for _, real in targets]
    outside = next((r for r in reals if not real_path.allowed(r)), None)
    if outside or len(set(reals)) != len(reals):
        raise RestoreError(f"refusing backup {manifest['id']}: it would write "
                           f"{outside or 'one file twice'}, outside Claude's state", exitcodes.FAILURE)
    for folder in sorted({os.path.dirname(real) for _, real in targets}):
        os.makedirs(folder, exist_ok=True)
    in_parallel(lambda pair: _move(pair[0], pair[1], touched), targets)
    in_parallel(lambda d: fsync_dir(Path(d)), sorted(touched))
