"""Is a backup good? Its manifest is sound and safe to restore, every piece hashes right, and the config
files Claude Code needs parse as JSON objects.

The manifest checks are also the restore's defence against a hostile backup: paths that climb out
(`..`, absolute, empty parts), links pointing outside the config dir, a path below a link, and sizes
beyond what one file of Claude Code's state can be.
"""

from __future__ import annotations

import hashlib

from claude_docker.backup import scope
from claude_docker.backup.configcheck import MAX_CONFIG_FILE, json_problem
from claude_docker.backup.store import CHUNK_PATTERN, MAX_CHUNK, ChunkError, Store, in_parallel

TYPE_CHECKING = False  # not typing's: its import costs ~5 ms (mypy knows the name)
if TYPE_CHECKING:
    from typing import TypeGuard  # 3.10+, read by mypy only: annotations here are never evaluated

MAX_FILE = 16 << 30  # a manifest naming a larger file is hostile (backups take no file over create.MAX_FILE)
WIPED_MIN_FILES = 10
TYPES = ("file", "dir", "link")


def _path_problem(path) -> str | None:
    if not isinstance(path, str) or not path or "\0" in path:
        return "an empty or non-text path"
    if path != scope.CLAUDE_JSON and path != scope.CONFIG and not path.startswith(scope.CONFIG + "/"):
        return f"a path outside Claude's state: {path!r}"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return f"a path that climbs out or is not normal: {path!r}"
    return None


def _int(value: object, low: int, high: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _entry_problem(e) -> str | None:
    if not isinstance(e, dict) or e.get("type") not in TYPES:
        return "an entry of unknown type"
    problem = _path_problem(e.get("path"))
    if problem:
        return problem
    path = e["path"]
    if e["type"] == "link":
        target = e.get("target")
        if not isinstance(target, str) or not scope.link_stays_inside(path, target):
            return f"{path}: a link that may point outside the config dir ({target!r:.80})"
        return None
    if not _int(e.get("mode"), 0, 0o7777):
        return f"{path}: a bad mode"
    if e["type"] == "dir":
        return None
    size, chunks = e.get("size"), e.get("chunks")
    if not _int(size, 0, MAX_FILE) or (scope.must_parse(path) and size > MAX_CONFIG_FILE):
        return f"{path}: an absurd size ({size!r:.40})"
    if not _int(e.get("mtime_ns"), 0, 1 << 63) or not _int(e.get("ino"), 0, 1 << 64):
        return f"{path}: a bad time or inode"
    if not isinstance(chunks, list) or not all(
            isinstance(c, list) and len(c) == 2 and isinstance(c[0], str) and CHUNK_PATTERN.match(c[0])
            and _int(c[1], 1, MAX_CHUNK) for c in chunks):
        return f"{path}: a bad chunk list"
    if sum(c[1] for c in chunks) != size:
        return f"{path}: its chunks don't add up to its size"
    if not isinstance(e.get("sha256"), str) or len(e["sha256"]) != 64:
        return f"{path}: no content hash"
    return None


def manifest_problems(manifest: dict) -> list[str]:
    """What makes a manifest unsafe or unsound to restore, without reading any data."""
    entries = manifest.get("entries")
    if not isinstance(entries, list) or manifest.get("scope") not in scope.SCOPES:
        return ["not a snapshot manifest"]
    problems = [p for p in map(_entry_problem, entries) if p]
    if problems:
        return problems
    paths = [e["path"] for e in entries]
    if len(set(paths)) != len(paths):
        return ["a path listed twice"]
    if scope.CLAUDE_JSON in paths and f"{scope.CONFIG}/.claude.json" in paths:
        return [".claude.json listed twice (inside the config dir too)"]
    links = {e["path"] for e in entries if e["type"] == "link"}
    for path in paths:
        parts = path.split("/")
        if any("/".join(parts[:i]) in links for i in range(1, len(parts))):
            return [f"{path}: below a link"]
    return []


def state_problems(manifest: dict) -> list[str]:
    """Why a sound backup is still no recovery point: it was taken of a state already lost (the config dir
    gone, or most of the files the backup before it had) -- a backup taken after a wipe, or a restore's
    backup of what it found."""
    if manifest.get("config_dir_missing"):
        return ["Claude's config dir was missing when it was taken"]
    stats = manifest.get("stats") or {}
    lost, before = stats.get("lost_files", 0), stats.get("parent_files", 0)
    if isinstance(lost, int) and isinstance(before, int) and before >= WIPED_MIN_FILES and 2 * lost > before:
        return [f"it lacks {lost} of the {before} files of the backup before it (a wiped state)"]
    return []


def data_problems(store: Store, entry: dict) -> tuple[str | None, str | None]:
    """Read one file of a backup whole: (damage: a chunk or the file's hash is wrong, a config file that must
    parse and doesn't)."""
    whole = hashlib.sha256()
    keep = scope.must_parse(entry["path"])
    parts = []
    try:
        for chunk_id, length in entry["chunks"]:
            data = store.get_chunk(chunk_id, length)
            whole.update(data)
            if keep:
                parts.append(data)
    except ChunkError as exc:
        return f"{entry['path']}: {exc}", None
    if whole.hexdigest() != entry["sha256"]:
        return f"{entry['path']}: its content does not match its hash", None
    return None, json_problem(entry["path"], b"".join(parts)) if keep else None


def check(store: Store, manifest: dict, progress=None) -> tuple[list[str], list[str]]:
    """(damage: the backup can't be restored as it was taken; why it is no recovery point though whole)."""
    problems = manifest_problems(manifest)
    if problems:
        return problems, []
    files = [e for e in manifest["entries"] if e["type"] == "file"]
    advance = progress.start(sum(e["size"] for e in files)) if progress else (lambda n: None)

    def one(entry: dict) -> tuple[str | None, str | None]:
        found = data_problems(store, entry)
        advance(entry["size"])
        return found

    results = in_parallel(one, files)
    if progress:
        progress.finish()
    damage = [d for d, _ in results if d]
    unusable = [u for _, u in results if u] + state_problems(manifest)
    return damage, unusable


def verify(store: Store, manifest: dict, progress=None) -> list[str]:
    """Every reason the backup is not good; [] when it is."""
    damage, unusable = check(store, manifest, progress)
    return damage + unusable
