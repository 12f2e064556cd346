"""What the policy held back from a session, kept for the user's review: `claude-docker held`.

One record per session, `<state>/held/<session>/held.json`, beside copies of the files and lines it holds
(`blobs/`), private (0700 folders, 0600 files) and pruned by age and count (keptaside.py). Each item is one
change: a JSON key of a config file, a whole file, or transcript lines. Items the policy refused are listed
too, for the record, but never applied. Applying an item writes it through the one safe-write path under the
config lock, after a config-scope backup, and never through a link.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.boundary.policy import HOLD, REFUSE
from claude_docker.errors import ToolError
from claude_docker.fsio import put_in_dir, read_capped, replace_file, sync_files, write_atomic
from claude_docker.jsonmerge import MISSING
from claude_docker.paths import ensure_private_dir, state_dir

RECORD = "held.json"
KEYS, FILE, LINES = "keys", "file", "lines"
MAX_BLOB_BYTES = 256 << 20  # of held content per record: past it, items are listed without their content


def held_root() -> Path:
    return state_dir() / "held"



class HeldRecord:
    """The items one session left for review. Added items are written by save(), which callers run after
    each step they mark done (so a sync killed halfway still leaves a record of what it held so far, and
    thousands of items cost one write, not one each)."""

    def __init__(self, session_id: str, project: str = ""):
        self.session_id = session_id
        self.dir = held_root() / session_id
        self.data: dict = {"session": session_id, "project": project, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                          time.gmtime()), "items": []}
        self._blob_bytes = 0
        self._unsynced: list[Path] = []
        try:
            loaded = json.loads((self.dir / RECORD).read_bytes())
            if isinstance(loaded, dict) and isinstance(loaded.get("items"), list):
                self.data = loaded
        except (OSError, ValueError):
            pass

    @property
    def items(self) -> list[dict]:
        return self.data["items"]

    def _add(self, item: dict, blob: bytes | None = None) -> dict:
        json.dumps(item)  # one that can't be recorded (nested too deep) fails here, leaving the record as it was
        item["n"] = (self.items[-1]["n"] if self.items else 0) + 1
        ensure_private_dir(self.dir)
        if blob is not None and self._blob_bytes + len(blob) <= MAX_BLOB_BYTES:
            ensure_private_dir(self.dir / "blobs")
            item["blob"] = f"blobs/{item['n']}"
            replace_file(self.dir / item["blob"], blob, 0o600, durable=False)  # synced together by save()
            self._blob_bytes += len(blob)
            self._unsynced.append(self.dir / item["blob"])
        elif blob is not None:
            item["reason"] += " (content not kept: too much held)"
        self.items.append(item)
        return item

    def add_key(self, root: Path, rel: str, label: str, path: tuple, value, verdict, own_link: bool = False) -> dict:
        """`own_link`: the target is a file only the user can make a link (a top-level config file)."""
        item = {"kind": KEYS, "root": str(root), "rel": rel, "label": label, "path": list(path),
                "verdict": verdict.action, "reason": verdict.reason, "absent": value is MISSING, "own_link": own_link}
        if value is not MISSING:
            item["value"] = value
        return self._add(item)

    def add_file(self, root: Path, rel: str, label: str, data: bytes | None, verdict) -> dict:
        item = {"kind": FILE, "root": str(root), "rel": rel, "label": label, "verdict": verdict.action,
                "reason": verdict.reason, "absent": data is None}
        return self._add(item, data)

    def add_lines(self, root: Path, rel: str, label: str, lines: bytes, reason: str) -> dict:
        return self._add({"kind": LINES, "root": str(root), "rel": rel, "label": label, "verdict": HOLD,
                          "reason": reason}, lines)

    def save(self) -> None:
        if not self.items and not (self.dir / RECORD).exists():
            return  # nothing held: no record
        ensure_private_dir(self.dir)
        sync_files(self._unsynced, self.dir)
        self._unsynced = []
        write_atomic(self.dir / RECORD, json.dumps(self.data, indent=1).encode(), mode=0o600)


def all_records() -> list[HeldRecord]:
    try:
        names = sorted(p.name for p in held_root().iterdir() if (p / RECORD).is_file())
    except OSError:
        return []
    return [HeldRecord(n) for n in names]


def find(ref: str) -> HeldRecord:
    """A record by its session id, or an unambiguous prefix of it."""
    matches = [r for r in all_records() if r.session_id.startswith(ref)] if ref else []
    if len(matches) != 1:
        raise ToolError(f"no held changes {'match' if not matches else 'are uniquely named by'} {ref!r}; "
                        "see `claude-docker held list`", exitcodes.USAGE)
    return matches[0]


def count_pending_in(data: dict) -> int:
    """The items of a record's data still waiting for review (held, not applied)."""
    items = data.get("items") if isinstance(data, dict) else None
    return sum(1 for i in items if isinstance(i, dict) and i.get("verdict") == HOLD and not i.get("applied")) \
        if isinstance(items, list) else 0


def count_pending() -> int:
    return sum(count_pending_in(r.data) for r in all_records())


# --- applying ---------------------------------------------------------------------------------------

def target_of(item: dict) -> Path:
    """Where an item goes: below its root (Claude's config dir, HOME for .claude.json, or the project), with
    no link at any component below that root: a session could have planted one to point the write at the
    user's dotfiles."""
    root = Path(os.path.realpath(item["root"]))
    parts = [p for p in item["rel"].split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ToolError(f"item {item['n']}: a malformed path {item['rel']!r}", exitcodes.FAILURE)
    path = root
    for i, part in enumerate(parts):
        path = path / part
        # A top-level config file no session can reach may be the user's own dotfiles link: written through.
        if os.path.islink(path) and not (item.get("own_link") and i == len(parts) - 1):
            raise ToolError(f"{path} is a link now; item {item['n']} not applied", exitcodes.FAILURE)
    return path


def _set_key(doc: dict, path: list, value, absent: bool) -> None:
    for key in path[:-1]:
        if not isinstance(doc.get(key), dict):
            doc[key] = {}
        doc = doc[key]
    if absent:
        doc.pop(path[-1], None)
    else:
        doc[path[-1]] = value


def _write_beneath(item: dict, data: bytes | None, append: bool = False) -> None:
    """Write (or append, or with None remove) an item's target, opened beneath its root without following a
    link at any component: a link raced in after target_of() looked is refused, not followed."""
    from claude_docker import beneath

    root = beneath.open_dir(item["root"])
    try:
        d, name = beneath.parent_of(root, item["rel"], create=data is not None)
    except OSError as exc:
        raise ToolError(f"{exc.filename}: {exc.strerror}; item {item['n']} not applied", exitcodes.FAILURE) from None
    finally:
        os.close(root)
    try:
        if append:
            _append(d, name, data or b"", item)
            return
        try:
            mode = stat.S_IMODE(os.stat(name, dir_fd=d, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            mode = 0o600
        put_in_dir(d, name, data, mode)
    except OSError as exc:
        raise ToolError(f"{item['rel']}: {exc.strerror or exc}; item {item['n']} not applied",
                        exitcodes.FAILURE) from None
    finally:
        os.close(d)


def _append(dir_fd: int, name: str, data: bytes, item: dict) -> None:
    """Append to a regular file only: a FIFO put in its place must not hang us under the config lock."""
    fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ToolError(f"{item['rel']} is not a regular file; item {item['n']} not applied", exitcodes.FAILURE)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def apply_item(record: HeldRecord, item: dict) -> None:
    """Write one held change to the host. Raises ToolError with a one-line reason when it can't."""
    if item["verdict"] == REFUSE:
        raise ToolError(f"item {item['n']} ({item['label']}) was refused, not held: claude-docker never applies it"
                        + (f"; its content is in {record.dir / item['blob']}" if item.get("blob") else ""),
                        exitcodes.FAILURE)
    from claude_docker.backup.configcheck import MAX_CONFIG_FILE

    target = target_of(item)
    blob = (record.dir / item["blob"]).read_bytes() if item.get("blob") else None
    if item["kind"] == KEYS:
        try:  # a project's settings file is the sessions' to make any size: read no more than a config's worth
            doc = json.loads(read_capped(target, MAX_CONFIG_FILE, follow=True)) if target.exists() else {}
        except ValueError:
            raise ToolError(f"{target} is not valid JSON now; run `claude-dr` first", exitcodes.FAILURE) from None
        except OSError as exc:
            raise ToolError(f"{target}: {exc.strerror}; item {item['n']} not applied", exitcodes.FAILURE) from None
        if not isinstance(doc, dict):
            raise ToolError(f"{target} is not a JSON object now; run `claude-dr` first", exitcodes.FAILURE)
        _set_key(doc, item["path"], item.get("value"), item["absent"])
        data = json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n"
        if item.get("own_link") and target.is_symlink():
            write_atomic(target, data)  # the user's own dotfiles link, which no session can reach: written through
        else:
            _write_beneath(item, data)
    elif item["kind"] == FILE:
        if not item["absent"] and blob is None:
            raise ToolError(f"item {item['n']}: its content was not kept (too much was held)", exitcodes.FAILURE)
        _write_beneath(item, None if item["absent"] else blob)
    else:
        _write_beneath(item, blob or b"", append=True)
    item["applied"] = True
    record.save()


def drop(record: HeldRecord) -> None:
    import shutil

    shutil.rmtree(record.dir, ignore_errors=True)
