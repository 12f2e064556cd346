"""Transcripts are not only data: `--resume` turns some of their lines into session state.

A session's own folder of `projects/` is bind-mounted read-write (its transcripts land on the host as they are
written; the rest of `projects/` is read-only), so it can append to, or rewrite, any transcript there. When a session ends (or `cleanup` finishes an
interrupted one), every transcript changed since it started is checked: the lines a native resume would turn
into state (the permission mode, the main agent, the worktree: policy.STATE_LINE_TYPES) are removed from the
host's copy and kept for review, so the next native `claude --resume` starts with the user's own defaults.
Every other line stays byte for byte.

The walk never follows a link (os.fwalk checks each directory it enters against what it listed), files are
opened with O_NOFOLLOW beneath their directory and must be regular, and a file is replaced only if it did not
change between our read and the rename (a transcript another session is still writing is left for later).
A change is recognised by its ctime, which, unlike the mtime, a session cannot set back.
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple
from pathlib import Path

from claude_docker.boundary.policy import is_state_line, may_hold_state_lines
from claude_docker.fsio import fsync_dir, replace_file

# Coarse file-system clocks stamp a write up to a tick before the clock we read: look back this far.
CTIME_SLACK_NS = 1_000_000_000
MAX_TRANSCRIPT = 512 * 1024 * 1024  # larger is no transcript Claude Code would resume; left alone
REASON = "transcript lines a native `claude --resume` would turn into its permission mode, agent or worktree"

Removed = namedtuple("Removed", "rel lines")  # rel: below the projects dir; lines: the removed bytes


def _read(dir_fd: int, name: str) -> tuple[bytes, os.stat_result] | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None  # gone, or a link: nothing a resume would read as this session's transcript
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_TRANSCRIPT:
            return None
        return f.read(), st


def split_state_lines(data: bytes) -> tuple[bytes, bytes]:
    """(the transcript without its state lines, the state lines)."""
    import orjson

    keep, removed = [], []
    for line in data.splitlines(keepends=True):
        if may_hold_state_lines(line):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                record = None
            if is_state_line(record):
                removed.append(line)
                continue
        keep.append(line)
    return b"".join(keep), b"".join(removed)


def _clean(dir_fd: int, name: str) -> bytes | None:
    """Remove the state lines of one transcript; the removed lines, None if none, b"" if it was busy."""
    found = _read(dir_fd, name)
    if found is None or not may_hold_state_lines(found[0]):
        return None
    data, st = found
    keep, removed = split_state_lines(data)
    if not removed:
        return None

    def unchanged() -> bool:
        try:
            now = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return (now.st_ino, now.st_size, now.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)

    if not replace_file(name, keep, stat.S_IMODE(st.st_mode), dir_fd=dir_fd, owner=(st.st_uid, st.st_gid),
                        unchanged=unchanged):
        return b""
    fsync_dir(dir_fd)
    return removed


def review(folder: str, since_ns: int) -> tuple[list[Removed], list[str]]:
    """Check every transcript under `folder` whose ctime is at or after `since_ns`. Returns what was removed
    (paths relative to `folder`), and the transcripts that were busy (changing under us: left for a later
    check; another session of the same folder may still be writing them)."""
    removed: list[Removed] = []
    busy: list[str] = []
    try:
        for dirpath, _dirs, files, dir_fd in os.fwalk(folder, follow_symlinks=False):
            rel_dir = os.path.relpath(dirpath, folder)
            for name in files:
                if not name.endswith(".jsonl"):
                    continue
                try:
                    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if st.st_ctime_ns < since_ns or not stat.S_ISREG(st.st_mode):
                    continue
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                lines = _clean(dir_fd, name)
                if lines:
                    removed.append(Removed(rel, lines))
                elif lines == b"":
                    busy.append(rel)
    except FileNotFoundError:
        pass
    return removed, busy


def hold_state_lines(config_dir: Path, folder: str, since_ns: int, held) -> tuple[list[dict], list[str]]:
    """review() of `folder` (relative to Claude's config dir), with what it removed kept in `held` (a
    HeldRecord). Returns the held items and the busy transcripts (relative to the config dir)."""
    removed, busy = review(os.path.join(os.path.realpath(config_dir), folder), since_ns)
    items = [held.add_lines(config_dir, f"{folder}/{r.rel}", f"{folder}/{r.rel}", r.lines, REASON) for r in removed]
    return items, [f"{folder}/{rel}" for rel in busy]
