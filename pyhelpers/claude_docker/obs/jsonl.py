"""Append-only JSON Lines logs shared by many writers: events, metric observations, traces.

Writing: one `os.write` of one whole line on an O_APPEND descriptor, so concurrent writers (shells,
sessions, a background loop) never tear or interleave a line. The file is opened per record, so a writer
never keeps appending to a file that was rotated away. Size-based rotation keeps `path.1` … `path.N`.

Reading: a Cursor remembers (inode, offset) per log, so a reader (a metrics fold, an exporter) takes only
what is new, across rotations, and never skips or repeats a line. A torn last line (a crash mid-write)
is never returned. `tail_since` reads backwards from the end to take a time window without reading the
whole file.
"""

from __future__ import annotations

import os

# pathlib costs ~17 ms to import (fnmatch, re, enum) and typing ~9 ms: neither is on the append path. The
# annotations here are never evaluated; type checkers read `TYPE_CHECKING` as true whatever it is bound to.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

_BLOCK = 64 * 1024  # tail_since reads backwards in blocks of this size


def _open_for_append(path: Path | str) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def append(path: Path | str, line: bytes, max_bytes: int, keep: int) -> None:
    """Append one record (`line` ends with a newline and holds no other).

    A file found already over the limit is rotated before writing, so writers wait for the rotation
    instead of piling onto the full file: a file never holds more than max_bytes plus one line per
    concurrent writer."""
    fd = _open_for_append(path)
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            os.close(fd)
            fd = -1
            from pathlib import Path

            rotate(Path(path), max_bytes, keep)
            fd = _open_for_append(path)
            size = os.fstat(fd).st_size
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"short write to {path}: {written} of {len(line)} bytes")
    finally:
        if fd >= 0:
            os.close(fd)
    if size + len(line) > max_bytes:
        from pathlib import Path

        rotate(Path(path), max_bytes, keep)


def rotate(path: Path, max_bytes: int, keep: int) -> None:
    """Shift path → path.1 → … → path.keep (the oldest is dropped). Under a lock, re-checked, so
    two writers crossing the limit together rotate once."""
    from claude_docker.locking import state_lock

    with state_lock("rotate-" + path.name, timeout=10):
        try:
            if os.stat(path).st_size <= max_bytes:
                return
        except FileNotFoundError:
            return
        for n in range(keep - 1, 0, -1):
            older = path.with_name(f"{path.name}.{n}")
            if older.exists():
                os.replace(older, path.with_name(f"{path.name}.{n + 1}"))
        os.replace(path, path.with_name(f"{path.name}.1"))


def generations(path: Path) -> list[Path]:
    """The log's files, oldest first: path.N … path.1, path."""
    rotated = sorted((p for p in path.parent.glob(path.name + ".*") if p.name[len(path.name) + 1:].isdigit()),
                     key=lambda p: -int(p.name[len(path.name) + 1:]))
    return rotated + ([path] if path.exists() else [])


SEEN_KEPT = 64


class Cursor:
    """A reader's position in a rotating log: which file (its inode, and a hash of its first line, since
    a dropped file's inode is soon reused by a new one), how far into it, and which files it has already
    read whole (so a deleted current file never makes it read the rotated ones again)."""

    __slots__ = ("head", "inode", "offset", "seen")  # read_new makes one per line

    def __init__(self, inode: int = 0, offset: int = 0, head: str = "", seen: list | None = None):
        self.inode = inode
        self.offset = offset
        self.head = head
        self.seen = seen or []

    def to_json(self) -> dict:
        return {"inode": self.inode, "offset": self.offset, "head": self.head, "seen": self.seen[-SEEN_KEPT:]}

    @classmethod
    def from_json(cls, data: object) -> Cursor:
        """A cursor from its saved form; ValueError saying what is wrong if it is not one (a damaged file)."""
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, not an object")
        inode, offset = data.get("inode", 0), data.get("offset", 0)
        head, seen = data.get("head", ""), data.get("seen", [])
        if not (type(inode) is int and type(offset) is int and inode >= 0 and offset >= 0):
            raise ValueError("its inode and offset are not counts")
        if not isinstance(head, str) or not isinstance(seen, list) or not all(
                isinstance(x, list) and len(x) == 2 and type(x[0]) is int and isinstance(x[1], str) for x in seen):
            raise ValueError("its file identities are not what this tool writes")
        return cls(inode, offset, head, [list(x) for x in seen])


def _head(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data[: data.find(b"\n") + 1]).hexdigest()[:32]


def _open_generations(path: Path) -> list[tuple]:
    """(open file, inode, head) of each of the log's files, oldest first, without reading past a first line.
    Call under the rotation lock; the caller closes the files."""
    found = []
    for f in generations(path):
        try:
            fh = open(f, "rb")  # noqa: SIM115 - the caller closes them all
        except FileNotFoundError:
            continue
        found.append((fh, os.fstat(fh.fileno()).st_ino, _head(fh.readline())))
    return found


def _start(ids: list[tuple[int, str]], cursor: Cursor) -> tuple[int | None, int]:
    """(index of the file the cursor names or None, index of the first file to read)."""
    start = next((i for i, ident in enumerate(ids) if ident == (cursor.inode, cursor.head)
                  or (not cursor.head and ident[0] == cursor.inode)), None)
    if start is not None:
        return start, start
    # Its file is gone (rotated past what is kept, or deleted): start after every file already read.
    seen = {tuple(x) for x in cursor.seen}
    return None, next((i for i, ident in enumerate(ids) if ident not in seen), len(ids))


def read_new(path: Path, cursor: Cursor) -> list[tuple[bytes, Cursor]]:
    """The complete lines appended since `cursor`, each with the cursor just past it, so a consumer can
    commit its position after any line it has dealt with.

    The files are walked oldest first; the one the cursor names is resumed at its offset and later ones
    are read whole; files before it are never read past their first line (a reader that is caught up costs
    an open and a few bytes, however large the log). Listing and reading hold the rotation lock, so a
    rotation can't shift the files under the reader. A cursor whose file rotated out of reach starts at the
    oldest one kept.
    """
    from claude_docker.locking import state_lock

    with state_lock("rotate-" + path.name, timeout=30):
        opened = _open_generations(path)
        try:
            ids = [(inode, head) for _, inode, head in opened]
            start, start_at = _start(ids, cursor)
            contents = []
            for i in range(start_at, len(opened)):
                fh = opened[i][0]
                offset = cursor.offset if i == start and cursor.offset <= os.fstat(fh.fileno()).st_size else 0
                fh.seek(offset)
                data = fh.read()
                if not offset:  # its first line may have been torn when first looked at, and complete now
                    ids[i] = (ids[i][0], _head(data))
                contents.append((i, offset, data))
        finally:
            for fh, _, _ in opened:
                fh.close()
    out: list[tuple[bytes, Cursor]] = []
    for i, offset, data in contents:
        inode = ids[i][0]
        seen_so_far = (cursor.seen + [list(x) for x in ids[:i] if list(x) not in cursor.seen])[-SEEN_KEPT:]
        position = offset
        for line in data.split(b"\n")[:-1]:  # the last piece is "" or a torn line still being written
            position += len(line) + 1
            if line:
                out.append((line, Cursor(inode, position, ids[i][1], seen_so_far)))
    return out


def unread_bytes(path: Path, cursor: Cursor) -> int:
    """How many bytes of the log lie past `cursor` (what read_new would read), from the files' sizes alone."""
    from claude_docker.locking import state_lock

    with state_lock("rotate-" + path.name, timeout=30):
        opened = _open_generations(path)
        try:
            ids = [(inode, head) for _, inode, head in opened]
            sizes = [os.fstat(fh.fileno()).st_size for fh, _, _ in opened]
        finally:
            for fh, _, _ in opened:
                fh.close()
    start, start_at = _start(ids, cursor)
    total = sum(sizes[start_at:])
    if start is not None and cursor.offset <= sizes[start]:
        total -= cursor.offset
    return total


def end(path: Path) -> Cursor:
    """A cursor past every complete line the log holds now: a reader starting there takes only what comes."""
    from claude_docker.locking import state_lock

    with state_lock("rotate-" + path.name, timeout=30):
        ids: list[list] = []
        last = Cursor()
        for f in generations(path):
            try:
                with open(f, "rb") as fh:
                    first = fh.readline()
                    size = os.fstat(fh.fileno()).st_size
                    ids.append([os.fstat(fh.fileno()).st_ino, _head(first if first.endswith(b"\n") else b"")])
            except FileNotFoundError:
                continue
            last = Cursor(ids[-1][0], _last_line_end(f, size), ids[-1][1], ids[:-1][-SEEN_KEPT:])
    return last


def _last_line_end(path: Path, size: int) -> int:
    """The offset just past the last newline in the first `size` bytes (a torn last line is not passed)."""
    with open(path, "rb") as fh:
        position = size
        while position > 0:
            step = min(_BLOCK, position)
            position -= step
            fh.seek(position)
            found = fh.read(step).rfind(b"\n")
            if found >= 0:
                return position + found + 1
    return 0


def tail_since(path: Path, since: str, time_key: str = "time") -> list[dict]:
    """Records whose `time_key` (ISO 8601 UTC, which sorts as text) is >= `since`, oldest first.

    Reads blocks backwards from the end of the newest file (then older files) and stops at the first
    record older than `since`, so the last hour of a large log costs what the last hour holds."""
    found: list[dict] = []
    for f in reversed(generations(path)):
        older_reached = False
        for line in _reverse_lines(f):
            try:
                import json

                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            if str(record.get(time_key, "")) < since:
                older_reached = True
                break
            found.append(record)
        if older_reached:
            break
    found.reverse()
    return found


def _reverse_lines(path: Path):
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the `with` below; only the open may find no file
    except FileNotFoundError:
        return
    with fh:
        fh.seek(0, os.SEEK_END)
        position = fh.tell()
        rest = b""
        while position > 0:
            step = min(_BLOCK, position)
            position -= step
            fh.seek(position)
            block = fh.read(step) + rest
            parts = block.split(b"\n")
            rest = parts[0]
            for part in reversed(parts[1:]):
                if part:
                    yield part
        if rest:
            yield rest
