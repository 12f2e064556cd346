"""What sync keeps aside for the user, in the state dir: `held/` (changes held for review, boundary/held.py),
`quarantine/` (files not applied) and `conflicts/` (the other side of a conflict), one folder per session;
and `damaged/`, the tool's own state set aside as damaged (damage.py), a file or a folder each.

Each holds copies of Claude's config, tokens included, so none may grow forever or be readable by others:
folders are 0700 and files 0600 (older ones are fixed here), and they are pruned by age and count, at the
end of a session that added to them and by `cleanup`. A held record still waiting for review is kept longer,
and said in one line when it goes. Nothing here follows a link (beneath.py): a link found is removed itself.
"""

from __future__ import annotations

import os
import stat
import sys
import time

from claude_docker import beneath
from claude_docker.paths import state_dir

AREAS = ("held", "quarantine", "conflicts", "damaged")
LOOSE_FILES = ("damaged",)  # the tool's own state set aside (damage.py): a file there is an entry, not debris
# A quarantined file or a conflict's other side is there to look at right after a session; a month on, nobody
# does, and each is one more copy of config and tokens on disk.
MAX_AGE_DAYS = 30
# A held change waits for the user's decision (`claude-docker held`): three months without one is a decision
# not coming, while the record still holds copies of what the session wrote.
PENDING_MAX_AGE_DAYS = 90
# Per area, the newest kept whatever their age: bounds the disk and the copies of tokens at any session rate
# (a month of a busy user's sessions with something kept aside fits).
MAX_ENTRIES = 100
DAY = 86400


def _pending(area_fd: int, name: str) -> bool:
    """Does this held record still wait for review (an item held, not applied)? Unreadable: treated as so."""
    import json

    from claude_docker.boundary.held import RECORD, count_pending_in
    from claude_docker.fsio import read_capped

    try:
        fd = beneath.open_regular(area_fd, f"{name}/{RECORD}")
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        return count_pending_in(json.loads(read_capped(fd, 64 << 20))) > 0
    except (OSError, ValueError, RecursionError):
        return True
    finally:
        os.close(fd)


def _privatise(area_fd: int, name: str) -> None:
    """A kept entry and everything below it made private (0700 folders, 0600 files): older versions made them
    with the umask's modes. Only what is loose is changed."""
    top = beneath.open_beneath(area_fd, name, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(top)
        if not stat.S_ISDIR(st.st_mode):  # a loose file (damaged/): itself only
            if stat.S_IMODE(st.st_mode) != 0o600:
                os.fchmod(top, 0o600)
            return
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(top, 0o700)
        for rel, inner, kind in beneath.walk(top):
            if kind in ("file", "dir") and stat.S_IMODE(inner.st_mode) != (0o700 if kind == "dir" else 0o600):
                try:
                    fd = beneath.open_beneath(top, rel, os.O_RDONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                try:
                    os.fchmod(fd, 0o700 if kind == "dir" else 0o600)
                finally:
                    os.close(fd)
    finally:
        os.close(top)


def _remove(area_fd: int, name: str, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        try:
            beneath.rmtree_at(area_fd, name)  # by descriptor: follows no link
        except OSError:
            pass  # what is left now goes at the next prune
    else:
        os.unlink(name, dir_fd=area_fd)  # a link or a stray file: itself, never what it points at


def prune_area(area: str, now: float | None = None) -> list[str]:
    """Prune one area and make it private; the held records dropped while still pending review."""
    now = time.time() if now is None else now
    try:
        area_fd = beneath.open_dir(state_dir() / area)
    except (FileNotFoundError, NotADirectoryError):
        return []
    dropped: list[str] = []
    try:
        if stat.S_IMODE(os.fstat(area_fd).st_mode) != 0o700:
            os.fchmod(area_fd, 0o700)
        entries = []
        for name in os.listdir(area_fd):
            try:
                entries.append((name, os.stat(name, dir_fd=area_fd, follow_symlinks=False)))
            except FileNotFoundError:
                continue
        entries.sort(key=lambda e: e[1].st_mtime, reverse=True)
        for rank, (name, st) in enumerate(entries):
            loose = area in LOOSE_FILES and stat.S_ISREG(st.st_mode)
            if not stat.S_ISDIR(st.st_mode) and not loose:
                _remove(area_fd, name, st)
                continue
            age_days = (now - st.st_mtime) / DAY
            if rank < MAX_ENTRIES and age_days <= MAX_AGE_DAYS:
                _privatise(area_fd, name)
                continue
            pending = area == "held" and _pending(area_fd, name)
            if pending and rank < MAX_ENTRIES and age_days <= PENDING_MAX_AGE_DAYS:
                _privatise(area_fd, name)
                continue
            _remove(area_fd, name, st)
            if pending:
                dropped.append(name)
    finally:
        os.close(area_fd)
    return dropped


def prune(now: float | None = None) -> list[str]:
    """Prune every area; the held records dropped while still pending review (already past the limits)."""
    dropped = []
    for area in AREAS:
        try:
            dropped += prune_area(area, now)
        except OSError as exc:  # a state dir we can't tidy never fails a session or cleanup
            print(f"claude-docker: warning: could not prune {state_dir() / area}: {exc.strerror or exc}",
                  file=sys.stderr)
    return dropped


def prune_and_say(now: float | None = None) -> None:
    """prune(), with the one line a user needs: held changes dropped before anyone reviewed them."""
    dropped = prune(now)
    if dropped:
        print(f"claude-docker: dropped {len(dropped)} held record(s) never reviewed, older than "
              f"{PENDING_MAX_AGE_DAYS} days or beyond the newest {MAX_ENTRIES}: {', '.join(sorted(dropped))}",
              file=sys.stderr)


def after_sync(report) -> None:
    """At a session's end: prune only when it kept something aside (cheap otherwise: nothing is looked at)."""
    if report.held_in or report.quarantined or report.conflicts:
        prune_and_say()


def summary() -> tuple[list[str], list[str]]:
    """(one phrase per area: its folders and bytes, the area paths readable by others) for `doctor`."""
    phrases, exposed = [], []
    for area in AREAS:
        try:
            area_fd = beneath.open_dir(state_dir() / area)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            top = os.fstat(area_fd)
            folders = size = 0
            if stat.S_IMODE(top.st_mode) & 0o077:
                exposed.append(str(state_dir() / area))
            for rel, st, kind in beneath.walk(area_fd):
                folders += "/" not in rel and (kind == "dir" or area in LOOSE_FILES)
                size += st.st_size if kind == "file" else 0
                if kind in ("file", "dir") and stat.S_IMODE(st.st_mode) & 0o077:
                    exposed.append(f"{state_dir() / area}/{rel}")
        finally:
            os.close(area_fd)
        phrases.append(f"{area}/ {folders} {'item' if area in LOOSE_FILES else 'session'}(s), {size >> 10} KiB")
    return phrases, exposed


def doctor_check():
    """doctor's line on the copies kept aside: how many, how large, and whether any is readable by others."""
    from claude_docker.checks import Check

    phrases, exposed = summary()
    limits = (f"pruned after {MAX_AGE_DAYS} days ({PENDING_MAX_AGE_DAYS} for held changes not yet reviewed), "
              f"{MAX_ENTRIES} per folder")
    if exposed:
        return Check("kept aside", "warn", f"{len(exposed)} path(s) readable by others, first {exposed[0]}",
                     "claude-docker cleanup (makes them private)")
    if not phrases:
        return Check("kept aside", "ok", f"nothing kept aside; {limits}")
    return Check("kept aside", "info", f"{'; '.join(phrases)}; {limits}")
