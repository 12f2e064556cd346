"""The backup store: content-addressed chunks and snapshot manifests, 0700 with files 0600.

    <store>/chunks/<2 hex>/<64 hex>   a chunk: zstd-compressed (then age-encrypted, if the store is), named by
                                      the SHA-256 of its plain bytes (keyed, if encrypted); written once, never changed
    <store>/snapshots/<id>.json       one backup's manifest, compressed (and encrypted) likewise
    <store>/store.json                the store's format and, if encrypted, its age recipients
    <store>/lock                      taken by every writer: backups, prune

Commit order as restic's: chunks, then one syncfs, then the manifest (fsynced, renamed into place). A backup
killed at any instant leaves at worst unreferenced chunks (prune collects them), never a listed snapshot
with missing data. Removal goes the other way: manifests first, then the chunks nothing references.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.claudejson import orjson_pays, stdlib_loads
from claude_docker.errors import ToolError
from claude_docker.fsio import SYNC_EACH_MAX, fsync_dir, remove_durable, replace_file, sync_files, write_atomic
from claude_docker.paths import backup_dir, ensure_private_dir, state_dir

TYPE_CHECKING = False  # not typing's: the pre-sync backup's path stays light (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.backup.crypto import Codec

FORMAT = 1
ID_PATTERN = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}$")
CHUNK_PATTERN = re.compile(r"^[0-9a-f]{64}$")
# Largest plain chunk a manifest may name: our own are CHUNK_SIZE; a bigger one is a hostile backup.
CHUNK_SIZE = 1 << 20
MAX_CHUNK = 8 << 20
MAX_STORED_MANIFEST = 64 << 20
# An escaped UTF-16 surrogate: the stdlib would take a lone one, which orjson (and so this store) refuses.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def loads(raw: bytes) -> object:
    """The store's own JSON (store.json, manifests), read as strictly as orjson reads it: with the stdlib
    where that costs less than orjson's import (claudejson.orjson_pays). ValueError if it is not JSON."""
    if not orjson_pays(len(raw)) and not _SURROGATE_ESCAPE.search(raw):
        try:
            return stdlib_loads(raw.decode("utf-8"))
        except RecursionError:
            raise ValueError("nested too deeply") from None
    import orjson

    return orjson.loads(raw)


def dumps(value: object, indent: int | None = None) -> bytes:
    """The store's JSON: compact unless `indent`. (The stdlib's C encoder: a full backup's manifest in tens
    of milliseconds, and no orjson import for a small backup.) ValueError for what JSON can't hold."""
    import json

    separators = None if indent else (",", ":")
    return json.dumps(value, indent=indent, separators=separators, ensure_ascii=False, allow_nan=False).encode()


def new_snapshot_id(now: float | None = None) -> str:
    now = time.time() if now is None else now
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now * 1e6) % 1_000_000:06d}Z-" \
        + os.urandom(3).hex()


def snapshot_time(snapshot_id: str) -> float:
    import calendar

    whole, _, rest = snapshot_id.partition(".")
    return calendar.timegm(time.strptime(whole, "%Y%m%dT%H%M%S")) + int(rest[:6]) / 1e6


def in_parallel(fn, items: list) -> list:
    """fn over items on a thread per core, results in order: creating and writing files, hashing and
    (de)compressing all release the GIL. Each thread takes a run of items (a task per item costs more in
    the executor than a small file's work), and more threads than cores only fight over the GIL."""
    workers = min(8, os.cpu_count() or 2)
    if len(items) < 8 or workers < 2:
        return [fn(i) for i in items]
    from concurrent.futures import ThreadPoolExecutor

    size = -(-len(items) // (workers * 4))
    runs = [items[i:i + size] for i in range(0, len(items), size)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [result for run in pool.map(lambda run: [fn(i) for i in run], runs) for result in run]


def _root_key(root: Path) -> str:
    """A store's name in the local state dir: its real path, hashed."""
    return hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:16]


class Store:
    def __init__(self, root: Path | None = None):
        self.root = root or backup_dir()
        self.chunks = self.root / "chunks"
        self.snapshots = self.root / "snapshots"
        self._codec: Codec | None = None
        self._unsynced: list[Path] = []  # chunks written since the last sync

    # --- setup and locking -----------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.root / "store.json").exists()

    def init(self) -> None:
        """Create the store if missing (0700). Its format, and encryption if asked for, are fixed at creation."""
        if self.exists():
            return
        from claude_docker.backup import crypto

        ensure_private_dir(self.root)
        ensure_private_dir(self.chunks)
        ensure_private_dir(self.snapshots)
        meta = {"format": FORMAT, **crypto.new_store_settings()}
        write_atomic(self.root / "store.json", dumps(meta, indent=2), mode=0o600)

    def meta(self) -> dict:
        try:
            meta = loads((self.root / "store.json").read_bytes())
        except FileNotFoundError:
            raise ToolError(f"no backups yet: {self.root} holds no backup store "
                            "(`claude-docker backup create` makes one)", exitcodes.NO_GOOD_BACKUP) from None
        except (ValueError, OSError) as exc:
            raise ToolError(f"the backup store's {self.root / 'store.json'} is unreadable: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ToolError(f"{self.root} is not a backup store of this version (format {meta!r:.40})")
        self._check_pinned(meta)
        return meta

    def _check_pinned(self, meta: dict) -> None:
        """Whether the store is encrypted, and to whom, is pinned in the local state dir the first time this
        machine uses it: someone who can write a shared store must not be able to switch encryption off or
        add their own recipient for the backups taken after."""
        settings = {"encryption": meta.get("encryption"), "recipients": meta.get("recipients")}
        pin = ensure_private_dir(state_dir() / "backup-keys") / f"store-{_root_key(self.root)}.json"
        try:
            pinned = loads(pin.read_bytes())
        except FileNotFoundError:
            write_atomic(pin, dumps(settings), mode=0o600)
            return
        except (OSError, ValueError):
            pinned = None
        if pinned != settings:
            raise ToolError(f"the encryption settings in {self.root / 'store.json'} changed since this machine "
                            f"last used the store (pinned in {pin}): refusing to use it", exitcodes.FAILURE)

    @property
    def codec(self) -> Codec:
        if self._codec is None:
            from claude_docker.backup import crypto

            self._codec = crypto.Codec(self.meta(), self.root)
        return self._codec

    def lock(self, timeout: float = 60.0):
        """The store's lock, taken now (a context manager that releases it); StoreBusy if another backup or
        prune still holds it after `timeout` seconds."""
        from contextlib import ExitStack

        from claude_docker.locking import locked

        ensure_private_dir(self.root)
        held = ExitStack()
        try:
            held.enter_context(locked(self.root / "lock", timeout, exitcodes.FAILURE))
        except ToolError:
            raise StoreBusy(f"another backup or prune has been using the backup store {self.root} for over "
                            f"{timeout:g}s", exitcodes.FAILURE) from None
        return held

    # --- chunks ----------------------------------------------------------------------------------

    def chunk_id(self, data: bytes) -> str:
        key = self.codec.name_key
        if key:
            import hmac

            return hmac.new(key, data, hashlib.sha256).hexdigest()
        return hashlib.sha256(data).hexdigest()

    def chunk_path(self, chunk_id: str) -> Path:
        return self.chunks / chunk_id[:2] / chunk_id

    def chunk_names(self) -> set[str]:
        names: set[str] = set()
        try:
            shards = list(os.scandir(self.chunks))
        except FileNotFoundError:
            return names
        for shard in shards:
            if shard.is_dir(follow_symlinks=False):
                names.update(n for n in os.listdir(shard.path) if CHUNK_PATTERN.match(n))
        return names

    def put_chunk(self, chunk_id: str, data: bytes, durable: bool = False) -> int:
        """Store a chunk; the bytes it takes on disk. Not durable until `sync()`, unless `durable` (a chunk
        replacing a bad copy that a committed snapshot may use)."""
        stored = self.codec.seal(data)
        path = self.chunk_path(chunk_id)
        try:
            replace_file(path, stored, 0o600, durable=durable)
        except FileNotFoundError:  # its shard dir is new: make it, durably
            ensure_private_dir(path.parent)
            fsync_dir(self.chunks)
            replace_file(path, stored, 0o600, durable=durable)
        self._unsynced.append(path)
        return len(stored)

    def mark_unsynced(self, chunk_id: str) -> None:
        """A chunk found in the store (left by a killed backup) that this backup reuses: flushed with its own."""
        self._unsynced.append(self.chunk_path(chunk_id))

    def _read_regular(self, path: Path, limit: int) -> bytes:
        """A store file's bytes: a regular file only (a FIFO or device planted in the store would block or
        never end), at most `limit` bytes, any failure a ChunkError."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            raise ChunkError(f"{path.name[:12]} is missing") from None
        except OSError as exc:
            raise ChunkError(f"{path.name[:12]} is unreadable ({exc.strerror})") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ChunkError(f"{path.name[:12]} is not a regular file")
            if st.st_size > limit:
                raise ChunkError(f"{path.name[:12]} is larger than anything we write ({st.st_size} bytes)")
            with os.fdopen(fd, "rb", closefd=False) as f:
                return f.read(limit + 1)
        except OSError as exc:
            raise ChunkError(f"{path.name[:12]} is unreadable ({exc.strerror})") from None
        finally:
            os.close(fd)

    def get_chunk(self, chunk_id: str, length: int) -> bytes:
        """A chunk's plain bytes, checked against its name and length. Raises ChunkError if it is not."""
        stored = self._read_regular(self.chunk_path(chunk_id), MAX_CHUNK + (1 << 20))
        try:
            data = self.codec.open(stored, length)
        except ValueError as exc:
            raise ChunkError(f"chunk {chunk_id[:12]} is damaged ({exc})") from None
        if len(data) != length or self.chunk_id(data) != chunk_id:
            raise ChunkError(f"chunk {chunk_id[:12]} does not match its hash")
        return data

    def sync(self) -> None:
        """Make the chunks written so far durable (and the dirs that hold them)."""
        written, self._unsynced = self._unsynced, []
        sync_files(written, self.root)
        if len(written) <= SYNC_EACH_MAX:
            for folder in {p.parent for p in written}:
                fsync_dir(folder)

    # --- snapshots -------------------------------------------------------------------------------

    def snapshot_ids(self) -> list[str]:
        """Committed snapshots, oldest first."""
        try:
            names = os.listdir(self.snapshots)
        except FileNotFoundError:
            return []
        return sorted(n[:-5] for n in names if n.endswith(".json") and ID_PATTERN.match(n[:-5]))

    def load(self, snapshot_id: str) -> dict:
        """A snapshot's manifest. Raises ChunkError if it can't be read or decoded."""
        raw = self._read_regular(self.snapshots / f"{snapshot_id}.json", MAX_STORED_MANIFEST)
        try:
            manifest = loads(self.codec.open(raw))
        except ValueError as exc:
            raise ChunkError(f"its manifest is unreadable ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("id") != snapshot_id:
            raise ChunkError("its manifest is not a snapshot manifest")
        return manifest

    def commit(self, manifest: dict, as_parent: bool = True) -> None:
        """Make a snapshot visible: after its chunks are on disk, never before. An encrypted store keeps a
        local plaintext copy of it too (`as_parent`): the next backup compares with it without the identity."""
        self.sync()
        ensure_private_dir(self.snapshots)
        data = dumps(manifest)
        write_atomic(self.snapshots / f"{manifest['id']}.json", self.codec.seal(data), mode=0o600)
        if self.codec.encrypted and as_parent:
            write_atomic(self._local_parent_path(manifest["scope"]), self.codec.compress_only(data), mode=0o600)

    def _local_parent_path(self, scope: str) -> Path:
        return ensure_private_dir(state_dir() / "backup-keys") / f"parent-{_root_key(self.root)}-{scope}.json.zst"

    def local_parent(self, scope: str) -> dict | None:
        """The local copy of this store's newest backup of `scope`, if that backup is still in the store."""
        try:
            manifest = loads(self.codec.open(self._local_parent_path(scope).read_bytes(), plain=True))
        except (OSError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) and manifest.get("id") in self.snapshot_ids() else None

    def forget(self, snapshot_id: str) -> None:
        remove_durable(self.snapshots / f"{snapshot_id}.json")

    def collect_garbage(self, referenced: set[str]) -> tuple[int, int]:
        """Delete chunks no snapshot references, and temp files of killed writers: (chunks, bytes) freed.
        Only under the lock, after the manifests that referenced them are gone."""
        freed = freed_bytes = 0
        try:
            shards = list(os.scandir(self.chunks))
        except FileNotFoundError:
            return 0, 0
        for shard in shards:
            if not shard.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(shard.path):
                name = entry.name
                temp = ".cd-tmp-" in name  # a writer killed mid-chunk: under the lock, none is running
                if temp or (CHUNK_PATTERN.match(name) and name not in referenced):
                    freed_bytes += entry.stat(follow_symlinks=False).st_size
                    os.unlink(entry.path)
                    freed += 0 if temp else 1
        for entry in os.scandir(self.snapshots):
            if ".cd-tmp-" in entry.name:  # a manifest whose commit was killed: never listed
                os.unlink(entry.path)
        return freed, freed_bytes


class ChunkError(Exception):
    """A piece of a backup is missing or damaged: the backup is not good."""


class StoreBusy(ToolError):
    """The store's lock is held by another backup or prune."""
