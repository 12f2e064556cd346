"""Taking a backup: walk the state, store only what changed, commit the manifest last.

Change detection is restic's: a file whose size, mtime and inode match the newest snapshot's entry reuses
that entry without being read. A changed file is read and cut into chunks of up to 1 MiB at the same
offsets as before, so a transcript that only grew reuses every chunk of its old content and stores just the
appended tail (plus, now and then, a compaction of many small tails into whole chunks).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

from claude_docker import beneath, exitcodes
from claude_docker.backup import scope
from claude_docker.backup.configcheck import MAX_CONFIG_FILE
from claude_docker.backup.store import CHUNK_SIZE, ChunkError, Store, StoreBusy, in_parallel, new_snapshot_id
from claude_docker.backup.triggers import record_full
from claude_docker.backup.verify import manifest_problems, state_problems
from claude_docker.errors import ToolError, describe
from claude_docker.fsio import signature
from claude_docker.liveness import host_name
from claude_docker.obs import events
from claude_docker.obs.catalog import observe

TYPE_CHECKING = False  # not typing's: its import costs ~5 ms (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.paths import ClaudeHome

# A file cut into more than this many chunks of under half CHUNK_SIZE (one per append) is re-cut whole.
MAX_SMALL_CHUNKS = 32
# Files a backup leaves out (listed in its manifest, with why). A session's container can write below the
# config dir, and a sparse file of any size costs it no disk, while a backup would read it all under the store
# lock (a 17 GiB one took minutes, then failed verification). Claude Code's largest files are transcripts,
# tens of MB for a long session (V8 can't hold a string past ~512 MiB: a larger file is none it reads whole).
MAX_FILE = 1 << 30
# A file with holes (Claude Code never makes one) from this size on: smaller ones cost little to read. Only a
# file whose allocated blocks fall well short of its size is asked (a compressing file system allocates less
# too, but has no holes).
SPARSE_MIN = 1 << 20


class LeftOut(Exception):
    """A file the backup does not take, and why (for its manifest)."""


def check_takeable(key: str, st: os.stat_result, fd: int | None = None) -> None:
    """Raise LeftOut if a backup must not take this file: larger than any of Claude Code's, or (when open as
    `fd`) sparse."""
    limit = MAX_CONFIG_FILE if scope.must_parse(key) else MAX_FILE
    if st.st_size > limit:
        raise LeftOut(f"larger than {limit >> 20} MiB ({st.st_size} bytes): no file of Claude Code's is")
    if fd is None or st.st_size < SPARSE_MIN or st.st_blocks * 512 >= st.st_size // 2:
        return
    try:
        hole = os.lseek(fd, 0, os.SEEK_HOLE)
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:  # a file system that can't tell holes: the size limit stands alone
        return
    if hole < st.st_size:
        raise LeftOut(f"a sparse file ({st.st_size} bytes, {st.st_blocks * 512} on disk): Claude Code writes none")


class _Writer:
    """Stores a backup's chunks: each new one once, and an existing one only if it is sound. Shared by the
    worker threads that read files (hashing, compression and file creation release the GIL)."""

    def __init__(self, store: Store, trusted: set[str], list_store: bool):
        self.store = store
        # A full backup lists the store once; a config backup (a handful of files) stats what it needs.
        self.listed = list_store
        self.existing = store.chunk_names() if list_store else set()
        self.trusted = trusted  # referenced by the parent snapshot: sound if present
        self.new_chunks = 0
        self.new_bytes = 0
        self.replaced: set[str] = set()  # bad copies a committed snapshot may still use: rewritten durably
        self.lock = threading.Lock()

    def has(self, chunk_id: str) -> bool:
        if chunk_id not in self.existing and not self.listed and self.store.chunk_path(chunk_id).exists():
            self.existing.add(chunk_id)
        return chunk_id in self.existing

    def put(self, data: bytes) -> list:
        chunk_id = self.store.chunk_id(data)
        with self.lock:  # decide and reserve at once, so two files holding one chunk store it once
            if self.has(chunk_id) and chunk_id not in self.trusted:
                # Left by a killed backup, maybe never flushed to disk: reused only if it reads back right
                # (and then flushed with this backup's), else written again. An encrypted store can't be
                # read without the identity, which backups don't need: there it is written again.
                try:
                    if not self.store.codec.can_read:
                        raise ChunkError("unreadable without the identity")
                    self.store.get_chunk(chunk_id, len(data))
                    self.store.mark_unsynced(chunk_id)
                    self.trusted.add(chunk_id)
                except ChunkError:
                    self.existing.discard(chunk_id)
                    self.replaced.add(chunk_id)
            fresh = chunk_id not in self.existing
            self.existing.add(chunk_id)
            self.trusted.add(chunk_id)
        if fresh:
            stored = self.store.put_chunk(chunk_id, data, durable=chunk_id in self.replaced)
            with self.lock:
                self.new_bytes += stored
                self.new_chunks += 1
        return [chunk_id, len(data)]


def _unchanged(prev: dict | None, st: os.stat_result, writer: _Writer) -> bool:
    return (prev is not None and prev.get("type") == "file" and prev["mode"] == st.st_mode & 0o7777
            and [prev["size"], prev["mtime_ns"], prev["ino"], prev.get("ctime_ns")] == signature(st)
            and all(writer.has(c[0]) for c in prev["chunks"]))


def _read_file(item: scope.Item, prev: dict | None, writer: _Writer, progress) -> dict:
    """A changed file's entry: leading chunks equal to the previous version's are reused, the rest stored."""
    fd = beneath.open_regular(item.root, item.rel)  # no link followed below the root; never a FIFO
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        check_takeable(item.key, st, f.fileno())  # again, as opened: it may have changed since the walk
        size = st.st_size  # a file still being appended to is taken as it was now: a whole-line prefix
        whole = hashlib.sha256()
        chunks: list = []
        old = list(prev["chunks"]) if prev and prev.get("type") == "file" else []
        if sum(1 for c in old if c[1] < CHUNK_SIZE // 2) > MAX_SMALL_CHUNKS:
            old = []  # compaction: cut the whole file afresh
        done = 0
        for chunk_id, length in old:
            if done + length > size:
                break
            data = f.read(length)
            if writer.store.chunk_id(data) != chunk_id or not writer.has(chunk_id):
                f.seek(done)
                break
            whole.update(data)
            chunks.append([chunk_id, length])
            done += length
            progress(length)
        while done < size:
            data = f.read(min(CHUNK_SIZE, size - done))
            if not data:
                break  # truncated while we read: take what there was
            whole.update(data)
            chunks.append(writer.put(data))
            done += len(data)
            progress(len(data))
    return {"path": item.key, "type": "file", "mode": st.st_mode & 0o7777, "size": done,
            "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "ino": st.st_ino, "sha256": whole.hexdigest(),
            "chunks": chunks}


def parent_of(store: Store, wanted_scope: str) -> dict | None:
    """The newest sound snapshot of the same scope, of a state not already lost: what a new backup is compared
    to (for what changed, and for what it lost). An encrypted store's is read from the local copy its backup
    left (backups never need the identity)."""
    if not store.codec.can_read:
        return store.local_parent(wanted_scope)
    for snapshot_id in reversed(store.snapshot_ids()):
        try:
            manifest = store.load(snapshot_id)
        except ChunkError:
            continue
        if manifest.get("scope") == wanted_scope and not manifest_problems(manifest) \
                and not state_problems(manifest):
            return manifest
    return None


def create(claude: ClaudeHome, reason: str, backup_scope: str = "full", store: Store | None = None,
           progress=None, lock_timeout: float = 60.0) -> dict:
    """Back up Claude Code's state; the committed manifest, with `stats` of what this backup added. Raises
    StoreBusy if another backup or prune holds the store past `lock_timeout` seconds."""
    store = store or Store()
    started = time.monotonic()
    try:
        with store.lock(lock_timeout):
            store.init()  # under the lock: two first backups must not make two stores (two naming keys)
            parent = parent_of(store, backup_scope)
            previous = {e["path"]: e for e in parent["entries"]} if parent else {}
            trusted = {c[0] for e in previous.values() if e.get("type") == "file" for c in e["chunks"]}
            writer = _Writer(store, trusted, list_store=backup_scope == "full")
            with scope.Roots(claude) as roots:
                items, skipped = scope.walk(roots, backup_scope, exclude=(store.root,))
                changed, left = [], set()
                for i in (i for i in items if i.kind == "file"):
                    try:
                        check_takeable(i.key, i.st)
                    except LeftOut as exc:
                        skipped.append(f"{i.key}: {exc}")
                        left.add(i.key)
                        continue
                    if not _unchanged(previous.get(i.key), i.st, writer):
                        changed.append(i)
                advance = progress.start(sum(i.st.st_size for i in changed)) if progress else (lambda n: None)

                def read(item: scope.Item) -> dict | None:
                    try:
                        return _read_file(item, previous.get(item.key), writer, advance)
                    except FileNotFoundError:
                        return None  # removed since the walk
                    except LeftOut as exc:
                        skipped.append(f"{item.key}: {exc}")
                        return None
                    except OSError as exc:  # unreadable, no longer a regular file, a link now in its path
                        skipped.append(scope.left_out(item.key, exc))
                        return None

                read_entries = dict(zip((i.key for i in changed), in_parallel(read, changed)))
            entries = []
            for item in items:
                if item.kind == "dir":
                    entries.append({"path": item.key, "type": "dir", "mode": item.st.st_mode & 0o7777})
                elif item.kind == "link":
                    entries.append({"path": item.key, "type": "link", "target": item.target})
                elif item.key in read_entries:
                    if read_entries[item.key] is not None:
                        entries.append(read_entries[item.key])
                elif item.key not in left:
                    entries.append(previous[item.key])
            if progress:
                progress.finish()
            files = {e["path"] for e in entries if e["type"] == "file"}
            before = {k for k, e in previous.items() if e.get("type") == "file"}
            manifest: dict = {
                "format": 1, "id": new_snapshot_id(), "scope": backup_scope, "reason": reason, "host": host_name(),
                "config_dir_missing": not os.path.isdir(claude.config_dir),
                "claude": {"config_dir": str(claude.config_dir), "claude_json": str(claude.claude_json),
                           "custom": claude.custom},
                "parent": parent["id"] if parent else None, "entries": entries, "skipped": skipped,
                "stats": {"files": sum(1 for e in entries if e["type"] == "file"),
                          "bytes": sum(e["size"] for e in entries if e["type"] == "file"),
                          "files_read": len(changed), "new_chunks": writer.new_chunks,
                          "parent_files": len(before), "lost_files": len(before - files),
                          "added_bytes": writer.new_bytes, "seconds": round(time.monotonic() - started, 3)},
            }
            store.commit(manifest, as_parent=not state_problems(manifest))
            if backup_scope == "full":
                record_full(store.root, manifest["id"])
    except StoreBusy:
        raise  # not a failure of this backup: the caller says what it does instead
    except (OSError, ToolError) as exc:
        message = exc.message if isinstance(exc, ToolError) else describe(exc)
        observe("claude_docker_backups_total", 1, scope=backup_scope, outcome="error")
        events.emit("backup.failed", message, level="error", outcome="error", fields={"scope": backup_scope,
                                                                                      "reason": reason})
        raise ToolError(f"backup failed: {message}", getattr(exc, "code", exitcodes.FAILURE)) from None
    stats = manifest["stats"]
    observe("claude_docker_backups_total", 1, scope=backup_scope, outcome="ok")
    observe("claude_docker_backup_duration_seconds", stats["seconds"], scope=backup_scope)
    observe("claude_docker_backup_added_bytes_total", stats["added_bytes"])
    observe("claude_docker_backup_last_success_timestamp_seconds", time.time(), scope=backup_scope)
    events.emit("backup.created", f"backup {manifest['id']}", outcome="ok", duration_ms=stats["seconds"] * 1000,
                fields={"snapshot": manifest["id"], "scope": backup_scope, "reason": reason, **stats})
    return manifest
