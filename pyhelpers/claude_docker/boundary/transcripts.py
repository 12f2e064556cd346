"""Transcripts are not only data: `--resume` turns some of their lines into session state.

A session's own folder of `projects/` is bind-mounted read-write (its transcripts land on the host as they are
written; the rest of `projects/` is read-only), so it can append to, or rewrite, any transcript there. When a
session ends (or `cleanup` finishes an interrupted one), every transcript changed since it started is checked: the
lines a native resume would turn into state (the permission mode, the main agent, the worktree:
policy.STATE_LINE_TYPES) are removed from the host's copy and kept for review, so the next native
`claude --resume` starts with the user's own defaults. Every other line stays byte for byte.

The walk never follows a link, at any component (beneath.py), files must be regular (a FIFO never blocks it), and
a file is replaced only if it did not change between our read and the rename (a transcript another session is
still writing is left for later). A change is recognised by its ctime, which, unlike the mtime, a session cannot
set back.
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple
from pathlib import Path

from claude_docker import beneath
from claude_docker.boundary.policy import is_state_line
from claude_docker.fsio import fsync_dir, replace_file, signature

# Coarse file-system clocks stamp a write up to a tick before the clock we read: look back this far.
CTIME_SLACK_NS = 1_000_000_000
MAX_KEPT = 16 * 1024 * 1024  # of the removed lines, kept for review
# The longest line read into memory. Claude Code's longest lines carry a few images (5 MB each at most) or a
# large tool output; a longer one is none Claude Code wrote (a file with no newline at all, sparse so it costs
# no disk, would be one line of any size). It is removed like a line we can't parse, and never held whole.
MAX_LINE = 64 << 20
REASON = "transcript lines a native `claude --resume` would turn into its permission mode, agent or worktree"

Removed = namedtuple("Removed", "rel lines")  # rel: below the projects dir; lines: the removed bytes


def obeyed(line: bytes) -> bool:
    """Would a resume turn this line into state, or might it read it otherwise than we do? Every line is
    parsed (a JSON escape such as `permission\\u002dmode` hides any byte pattern); one that neither orjson
    nor the stdlib (which takes a lone surrogate, as JavaScript does) can read is not a line we can vouch
    for: Claude Code skips a line it can't parse, so it goes too."""
    import orjson

    if isinstance(line, _Overlong):
        return True
    if not line.strip():
        return False
    if b"\r" in line.rstrip(b"\r\n") and any(obeyed(piece) for piece in line.split(b"\r")):
        return True  # a reader that also ends lines at CR would see these pieces
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        import json

        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            return True
    return is_state_line(record)


class _Overlong(bytes):
    """The start of a line longer than MAX_LINE (the rest was skipped, not read into memory)."""


def _lines(f):
    """A transcript's lines, split where Claude Code splits them: at `\\n` only (a `\\r` is JSON whitespace).
    A line longer than MAX_LINE comes as its first 1 MiB, an _Overlong."""
    f.seek(0)
    while True:
        line = f.readline(MAX_LINE + 1)
        if len(line) <= MAX_LINE:
            if not line:
                return
            yield line
            continue
        head = _Overlong(line[:1 << 20])
        while line and not line.endswith(b"\n"):
            line = f.readline(1 << 20)
        yield head


def _clean(dir_fd: int, name: str) -> bytes | None:
    """Remove the state lines of one transcript in `dir_fd`; the removed lines (the first MAX_KEPT bytes of
    them), None if there were none, b"" if the file changed while it was checked. Streamed: any size."""
    try:
        fd = beneath.open_regular(dir_fd, name)
    except OSError:
        return None  # gone, a link or no regular file: nothing a resume would read as this session's transcript
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        removed, size, found = [], 0, False
        for line in _lines(f):
            if obeyed(line):
                found = True
                if size < MAX_KEPT:
                    removed.append(line)
                    size += len(line)
        if not found:
            return None

        def unchanged() -> bool:
            try:
                now = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return False
            return signature(now) == signature(st)

        kept = (line for line in _lines(f) if not obeyed(line))
        if not replace_file(name, kept, stat.S_IMODE(st.st_mode), dir_fd=dir_fd, owner=(st.st_uid, st.st_gid),
                            unchanged=unchanged):
            return b""
    fsync_dir(dir_fd)
    return b"".join(removed)[:MAX_KEPT]


def review(folder: str, since_ns: int) -> tuple[list[Removed], list[str]]:
    """Check every transcript under `folder` whose ctime is at or after `since_ns`. Returns what was removed
    (paths relative to `folder`), and the transcripts that were busy (changing under us: left for a later
    check; another session of the same folder may still be writing them)."""
    removed: list[Removed] = []
    busy: list[str] = []
    try:
        root = beneath.open_dir(folder)
    except FileNotFoundError:
        return removed, busy
    try:
        for rel, st, kind in beneath.walk(root):
            if kind != "file" or not rel.endswith(".jsonl") or st.st_ctime_ns < since_ns:
                continue
            parent, _, name = rel.rpartition("/")
            try:
                dir_fd = beneath.open_beneath(root, parent, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                continue  # its directory changed under us: not one a resume reads as it was listed
            try:
                lines = _clean(dir_fd, name)
            except OSError:
                lines = b""  # could not be rewritten now: checked again by cleanup
            finally:
                os.close(dir_fd)
            if lines:
                removed.append(Removed(rel, lines))
            elif lines == b"":
                busy.append(rel)
    finally:
        os.close(root)
    return removed, busy


def hold_state_lines(config_dir: Path, folder: str, since_ns: int, held) -> tuple[list[dict], list[str]]:
    """review() of `folder` (relative to Claude's config dir), with what it removed kept in `held` (a
    HeldRecord). Returns the held items and the busy transcripts (relative to the config dir)."""
    removed, busy = review(os.path.join(os.path.realpath(config_dir), folder), since_ns)
    items = [held.add_lines(config_dir, f"{folder}/{r.rel}", f"{folder}/{r.rel}", r.lines, REASON) for r in removed]
    return items, [f"{folder}/{rel}" for rel in busy]
