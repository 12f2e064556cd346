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

Directories, links and files are made only beneath Claude's state's roots (scope.Roots), one component at
a time, following no link (beneath.py): a session's container can plant a link anywhere below them, even
while the restore runs. A link found on the way to anything the restore would write is refused before
anything is made; one raced in later stops the restore at that point. Nothing is ever made outside.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import time
from contextlib import nullcontext
from pathlib import Path

from claude_docker import beneath, exitcodes
from claude_docker.backup import scope
from claude_docker.backup.configcheck import MAX_CONFIG_FILE, json_problem
from claude_docker.backup.store import ChunkError, Store, in_parallel
from claude_docker.backup.verify import manifest_problems
from claude_docker.errors import ToolError
from claude_docker.fsio import read_capped, replace_file, sync_files
from claude_docker.liveness import is_alive, process_start

TYPE_CHECKING = False  # not typing's: its import costs ~5 ms (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.paths import ClaudeHome

STAGING_PREFIX = ".claude-docker-restore-"
# Modes come from the backup, but never setuid, setgid, sticky, or writable by others than the user.
FILE_MODES, DIR_MODES = 0o755, 0o755
CREDENTIALS = scope.CONFIG + "/.credentials.json"
MISSING = "missing"


class RestoreError(ToolError):
    """The backup could not be restored (damaged, hostile, no room); nothing on the host was changed."""


def hash_file(path: Path | str | int, length: int | None = None) -> str:
    """SHA-256 of a file's first `length` bytes (all of it by default): a path (a regular file only, opened
    without blocking, so a FIFO put there can't hang the check), or a descriptor read from where it stands."""
    if isinstance(path, int):
        fd = os.dup(path)
    else:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise beneath.NotRegular(errno.EINVAL, "is not a regular file", str(path))
    digest = hashlib.sha256()
    with open(fd, "rb") as f:
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


def _read(path: str | int) -> bytes:
    with open(path, "rb", closefd=not isinstance(path, int)) as f:
        return f.read()


class _Host:
    """What is on the host where each key of a backup goes, looked at through scope.Roots: below a root,
    each directory is opened without following links, so a link on the way raises beneath.Escape."""

    def __init__(self, roots: scope.Roots):
        self.roots = roots
        # (root, dir, its descriptor or None if missing): a backup lists a dir's files together.
        self._last: tuple | None = None

    def close(self) -> None:
        if self._last and self._last[2] is not None:
            os.close(self._last[2])
        self._last = None

    def _dir(self, root: int, folder: str) -> int:
        if not (self._last and self._last[:2] == (root, folder)):
            try:
                with self.roots.at(root):
                    fd = beneath.open_beneath(root, folder, os.O_PATH | os.O_DIRECTORY)
            except FileNotFoundError:
                fd = None
            self.close()
            self._last = (root, folder, fd)
        if self._last[2] is None:
            raise FileNotFoundError(errno.ENOENT, "missing", folder)
        return self._last[2]

    def lstat(self, key: str) -> os.stat_result | None:
        """What is at `key` now, not following a link there (None if missing, its directory included)."""
        try:
            root, rel = self.roots.locate(key)
            if not rel:
                return os.fstat(root)
            folder, _, name = rel.rpartition("/")
            return os.stat(name, dir_fd=self._dir(root, folder), follow_symlinks=False)
        except FileNotFoundError:
            return None

    def open(self, key: str) -> int:
        """The regular file at `key`, for reading."""
        root, rel = self.roots.locate(key)
        with self.roots.at(root):
            return beneath.open_regular(root, rel)

    def read(self, key: str) -> bytes:
        """A config file's bytes (fsio.TooLarge past MAX_CONFIG_FILE: none is larger)."""
        fd = self.open(key)
        try:
            return read_capped(fd, MAX_CONFIG_FILE)
        finally:
            os.close(fd)

    def hash(self, key: str, length: int) -> str:
        fd = self.open(key)
        try:
            return hash_file(fd, length)
        finally:
            os.close(fd)


def decide(store: Store, entry: dict, host: _Host, mode: str, force_credentials: bool) -> tuple[str, str]:
    """(action, why) for one file: write, keep, or same."""
    key = entry["path"]
    st = host.lstat(key)
    if st is None:
        return "write", MISSING
    if stat.S_ISDIR(st.st_mode):
        return "keep", "a directory where the backup has a file"
    if not stat.S_ISREG(st.st_mode):
        return "write", "a link or special file where the backup has a file"  # replaced, never followed
    if scope.must_parse(key):
        try:
            current = host.read(key)
        except beneath.Escape:
            raise
        except OSError as exc:
            return "write", f"unreadable ({exc.strerror})"
        broken = json_problem(key, current)
        if broken:
            return "write", broken
    if mode == "repair":
        return "keep", "present and sound"
    if st.st_size == entry["size"] and st.st_mtime_ns == entry["mtime_ns"]:
        return "same", ""
    if st.st_size >= entry["size"] and host.hash(key, entry["size"]) == entry["sha256"]:
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
        if _expires_at(host.read(key)) > _expires_at(backed_up):
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


def _move(staged: str, folder: int, name: str) -> None:
    """Rename a staged file over its target, `name` in the open directory `folder`."""
    try:
        os.replace(staged, name, dst_dir_fd=folder)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # Another file system (below a top-level link): written beside it and renamed, through the descriptor
        # (/proc/self/fd/N is the very directory opened, not a path looked up again).
        replace_file(Path(f"/proc/self/fd/{folder}") / name, _read(staged), os.stat(staged).st_mode & 0o7777)


class Result:
    def __init__(self, snapshot_id: str):
        self.snapshot = snapshot_id
        self.written: list[tuple[str, str]] = []  # (key, why)
        self.dirs: list[str] = []  # directories made (or, in a dry run, to make)
        self.links: list[tuple[str, str]] = []  # (key, target) of the links made
        self.kept: list[tuple[str, str]] = []
        self.same = 0
        self.pre_restore: str | None = None
        self.bytes = 0
        self.held: list[str] = []  # transcripts whose state lines were taken out again (claude-docker held)

    def to_json(self) -> dict:
        return {"snapshot": self.snapshot, "written": [{"path": k, "why": w} for k, w in self.written],
                "dirs": self.dirs, "links": [{"path": k, "target": t} for k, t in self.links],
                "kept": [{"path": k, "why": w} for k, w in self.kept], "unchanged": self.same,
                "pre_restore_backup": self.pre_restore, "bytes": self.bytes, "held": self.held}


def _plan(store: Store, manifest: dict, claude: ClaudeHome, mode: str, force_credentials: bool,
          result: Result) -> tuple[list, list, list]:
    """(files to write, each with why; directories to make; links to make), from what is on the host now.
    Every path on the way to each of them is checked first, before anything is made: a link or a
    non-directory there raises RestoreError, since it could lead the restore out of Claude's state."""
    plan: list = []
    missing_dirs: list = []
    missing_links: list = []
    places: set = set()  # (root, path beneath it): two keys of one file (through top-level links) meet here
    with scope.Roots(claude) as roots:
        host = _Host(roots)
        try:
            for entry in manifest["entries"]:
                key, kind = entry["path"], entry["type"]
                if kind == "file":
                    action, why = decide(store, entry, host, mode, force_credentials)
                    if action == "write":
                        plan.append((entry, why))
                        try:
                            places.add(roots.locate(key))
                        except FileNotFoundError:  # no config dir: nothing can lead two keys to one file
                            places.add(key)
                    elif action == "keep":
                        result.kept.append((key, why))
                    else:
                        result.same += 1
                    continue
                st = host.lstat(key)
                if st is None:
                    (missing_dirs if kind == "dir" else missing_links).append(entry)
                elif kind == "dir" and not stat.S_ISDIR(st.st_mode):
                    why = "is a link, not followed" if stat.S_ISLNK(st.st_mode) else "is not a directory"
                    raise beneath.Escape(errno.ENOTDIR, why, _place(roots, key))
        except beneath.Escape as exc:
            raise RestoreError(f"refusing to restore backup {manifest['id']}: {exc.filename} {exc.strerror} (a link "
                               "there could lead the restore out of Claude's state): move it away and run it again; "
                               "nothing was changed", exitcodes.FAILURE) from None
        finally:
            host.close()
    if len(places) != len(plan):
        raise RestoreError(f"refusing backup {manifest['id']}: it would write one file twice", exitcodes.FAILURE)
    return plan, missing_dirs, missing_links


def _place(roots: scope.Roots, key: str) -> str:
    """Where a key is on this host, its roots resolved (for messages)."""
    try:
        return roots.path(*roots.locate(key))
    except FileNotFoundError:
        return scope.host_str(roots.claude, key)


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
        plan, missing_dirs, missing_links = _plan(store, manifest, claude, mode, force_credentials, result)
        result.written = [(e["path"], why) for e, why in plan]
        result.dirs = [e["path"] for e in missing_dirs]
        result.links = [(e["path"], e["target"]) for e in missing_links]
        if dry_run or (not plan and not missing_dirs and not missing_links):
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
            from claude_docker.boundary.transcripts import CTIME_SLACK_NS

            swapped_from = time.time_ns() - CTIME_SLACK_NS
            try:
                _swap_in(claude, staging, plan, missing_dirs, missing_links)
            except beneath.Escape as exc:
                raise RestoreError(f"the restore stopped part way: {exc.filename} {exc.strerror} (it appeared while "
                                   "the restore ran; nothing was made through it, and every file is whole, old or "
                                   "new): move it away and run it again", exitcodes.FAILURE) from None
            except OSError as exc:
                where = f" ({exc.filename})" if exc.filename else ""
                raise RestoreError(f"the restore stopped part way: {exc.strerror or exc}{where}; every file is "
                                   "whole, old or new: fix that and run it again", exitcodes.FAILURE) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if any(scope.file_name(e["path"]).startswith("projects/") for e, _ in plan):
            result.held = _police_transcripts(claude, manifest["id"], swapped_from)
    result.bytes = need
    return result


def _police_transcripts(claude: ClaudeHome, snapshot_id: str, since_ns: int) -> list[str]:
    """A backup holds transcripts as sessions wrote them (an hourly backup runs while a session does): the
    lines a native resume would obey are taken out again, as at the end of a session (boundary/)."""
    from claude_docker.boundary.held import HeldRecord
    from claude_docker.boundary.transcripts import hold_state_lines

    held = HeldRecord(f"restore-{snapshot_id}")
    items, _busy = hold_state_lines(claude.config_dir, "projects", since_ns, held)
    held.save()
    return [item["label"] for item in items]


# Directories held open at once while files are renamed into them: far below the usual limit of 1024.
DIR_BATCH = 256


def _swap_in(claude: ClaudeHome, staging: Path, plan: list, missing_dirs: list, missing_links: list) -> None:
    """Make the missing directories and links, then rename each staged file over its target, and flush the
    directories changed. All of it beneath the roots, one component at a time: a link raced in anywhere on
    the way raises beneath.Escape (named by its host path), and nothing is made through it."""
    with scope.Roots(claude, create=True) as roots:
        touched: set[tuple[int, str]] = set()
        for entry in sorted(missing_dirs, key=lambda e: e["path"]):
            root, rel = roots.locate(entry["path"])
            with roots.at(root):
                fd = beneath.mkdirs_beneath(root, rel)
            try:
                os.fchmod(fd, entry["mode"] & DIR_MODES | 0o700)  # never one we could not write the rest into
            finally:
                os.close(fd)
            touched.add((root, rel.rpartition("/")[0]))
        for entry in missing_links:
            root, rel = roots.locate(entry["path"])
            folder, _, name = rel.rpartition("/")
            with roots.at(root):
                fd = beneath.mkdirs_beneath(root, folder)
            try:
                os.symlink(entry["target"], name, dir_fd=fd)
            except FileExistsError:
                pass  # something is there now: left alone, as anything the backup finds there is
            finally:
                os.close(fd)
            touched.add((root, folder))
        for root, folder in sorted(touched):
            with roots.at(root):
                fd = beneath.open_beneath(root, folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        by_dir: dict[tuple[int, str], list[tuple[str, str]]] = {}
        for entry, _ in plan:
            root, rel = roots.locate(entry["path"])
            folder, _, name = rel.rpartition("/")
            by_dir.setdefault((root, folder), []).append((os.path.join(staging, entry["path"]), name))
        dirs = list(by_dir)
        for i in range(0, len(dirs), DIR_BATCH):
            fds: dict[tuple[int, str], int] = {}
            try:
                for root, folder in dirs[i:i + DIR_BATCH]:
                    with roots.at(root):
                        fds[root, folder] = beneath.mkdirs_beneath(root, folder)
                # in_parallel returns before the loop goes on: the lambda always sees this batch's fds
                in_parallel(lambda job: _move(job[0], fds[job[1]], job[2]),  # noqa: B023
                            [(staged, where, name) for where in fds for staged, name in by_dir[where]])
                in_parallel(os.fsync, list(fds.values()))
            finally:
                for fd in fds.values():
                    os.close(fd)
