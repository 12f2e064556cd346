"""The egress decisions in the event log, read back for `claude-docker egress log`: all of them (rotated
files first), or those that come while following the log, across rotations."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

EVENT = "egress.connection"
_MARK = b"egress.connection"  # only lines holding it are decoded: the log holds every other event too
POLL = 0.2
TAIL = 64 * 1024  # following starts past the last complete line within this much of the end


def _decode(line: bytes) -> dict | None:
    if _MARK not in line:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("event") == EVENT else None


def records(path: Path) -> Iterator[dict]:
    """Every egress.connection event in the log and its rotated files, oldest first."""
    from claude_docker.obs import jsonl

    for f in jsonl.generations(path):
        try:
            fh = open(f, "rb")  # noqa: SIM115 - closed by the `with` below; only the open may find no file
        except FileNotFoundError:
            continue  # rotated away between the listing and the open
        with fh:
            for line in fh:
                if line.endswith(b"\n"):  # a torn last line is still being written
                    record = _decode(line)
                    if record is not None:
                        yield record


def follow(path: Path, sleep: Callable[[float], None] = time.sleep) -> Iterator[dict]:
    """The egress.connection events appended from now on, forever (the caller stops it). A rotation is
    seen as the file's inode changing: the rest of the old file (now path.1) is read, then the new one."""
    inode, offset = _position(path)
    while True:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed by the `with` below; only the open may find no file
        except FileNotFoundError:
            fh = None
        if fh is not None:
            with fh:
                st = os.fstat(fh.fileno())
                if st.st_ino != inode:
                    if inode:
                        yield from _rest_of(path, inode, offset)
                    inode, offset = st.st_ino, 0
                if st.st_size < offset:  # truncated in place: start over
                    offset = 0
                fh.seek(offset)
                data = fh.read(st.st_size - offset)
            complete = data.rfind(b"\n") + 1  # a torn last line is read again once it is whole
            offset += complete
            for line in data[:complete].split(b"\n"):
                record = _decode(line)
                if record is not None:
                    yield record
        sleep(POLL)


def _position(path: Path) -> tuple[int, int]:
    """(inode, offset just past the last complete line) of the log now."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            start = max(0, st.st_size - TAIL)
            fh.seek(start)
            found = fh.read(st.st_size - start).rfind(b"\n")
            return st.st_ino, start + found + 1 if found >= 0 else st.st_size
    except FileNotFoundError:
        return 0, 0


def _rest_of(path: Path, inode: int, offset: int) -> Iterator[dict]:
    """The complete lines after `offset` in the rotated file that has `inode`, if it is still kept."""
    from claude_docker.obs import jsonl

    for f in jsonl.generations(path)[:-1]:
        try:
            with open(f, "rb") as fh:
                if os.fstat(fh.fileno()).st_ino != inode:
                    continue
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            continue
        for line in data.split(b"\n")[:-1]:
            record = _decode(line)
            if record is not None:
                yield record
        return


def wanted(record: dict, session: str | None, denied_only: bool) -> bool:
    if denied_only and record.get("outcome") != "denied":
        return False
    return not session or str(record.get("session", "")).startswith(session)
