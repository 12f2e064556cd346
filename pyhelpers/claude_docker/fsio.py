"""The one safe-write path: every change to a file the user cares about goes through here.

write_atomic: temp file in the same directory, write, fsync, rename over the target, fsync the directory.
A reader (or a crash) sees the old content or the new, never a torn or empty file. Symlinks are written
through, so a dotfiles-managed `settings.json` stays a link. replace_file is its core, also used alone
where many files are written and made durable together (backup chunks). read_capped is the one bounded
read of a file someone else (a session's container) may have made any size.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

TMP_PREFIX = ".cd-tmp-"


def is_transient(name: str) -> bool:
    """Lock files and half-written temp files of any writer, ours included: never synced or backed up."""
    return name.endswith(".lock") or ".tmp" in name or TMP_PREFIX in name


def signature(st: os.stat_result) -> list[int]:
    """The one change signature of a file: size, mtime, inode and ctime. A writer can set mtime back after
    rewriting a file in place, but not ctime, so equal signatures mean unchanged content without a read."""
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


def fsync_dir(path: Path | int) -> None:
    """fsync a directory, by path or by an open descriptor (which stays open)."""
    if isinstance(path, int):
        os.fsync(path)
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(target: Path | str, data, mode: int, durable: bool = True, dir_fd: int | None = None,
                 owner: tuple[int, int] | None = None, unchanged=None) -> bool:
    """Write `data` to a temp file beside `target` and rename it over `target`: readers see the old file or
    the new one, never a torn one. `durable` fsyncs the file first; a caller writing many files (backup
    chunks) may leave that out and sync them all at once before it relies on them.

    With `dir_fd`, `target` is a name in that open directory, so no link on the way to it is followed.
    `owner` keeps a file's uid:gid when root rewrites it. `unchanged`, if given, is asked right before the
    rename; False leaves the target alone (another writer got there first) and returns False. `data` is
    bytes, or an iterable of bytes for content too large to hold in memory."""
    target = str(target)
    head, _name = os.path.split(target)
    # Not named after the target: a name near the 255-byte limit would make the temp name too long.
    tmp = os.path.join(head, f"{TMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
    try:
        try:
            for chunk in (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            if owner is not None and os.getuid() == 0:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)  # exactly `mode`, whatever the umask
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if unchanged is not None and not unchanged():
            os.unlink(tmp, dir_fd=dir_fd)
            return False
        os.replace(tmp, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return True
    except BaseException as exc:
        # Only the failure path removes the temp file: after a successful rename it is the target.
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename in (None, tmp):
            exc.filename = target  # a write's error names no file (a full disk): say which one it was
        raise


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace `path` with `data` atomically and durably. Keeps the existing file's mode unless `mode` is given."""
    target = Path(os.path.realpath(path))
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o600
    replace_file(target, data, mode)
    fsync_dir(target.parent)


def _syncfs(path: Path | str) -> None:
    import ctypes

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            os.sync()
    except (OSError, AttributeError):
        os.sync()
    finally:
        os.close(fd)


SYNC_EACH_MAX = 64


def sync_files(paths: list, where: Path | str) -> None:
    """Make files just written durable: a few are fsynced one by one, many with one syncfs of the file
    system `where` is on (which also flushes whatever else is dirty there, so not for a handful)."""
    if len(paths) > SYNC_EACH_MAX:
        _syncfs(where)
        return
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def append_durable(path: Path, data: bytes) -> None:
    """Append `data` with one O_APPEND write and fsync: concurrent appenders never interleave within it."""
    target = Path(os.path.realpath(path))
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(errno.ENOSPC, f"short write ({written} of {len(data)} bytes)", str(target))
        os.fsync(fd)
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(target)
        raise
    finally:
        os.close(fd)


def remove_durable(path: Path) -> None:
    target = Path(os.path.realpath(path))
    try:
        os.unlink(target)
    except FileNotFoundError:
        return
    fsync_dir(target.parent)


def put_in_dir(dir_fd: int, name: str, data: bytes | None, mode: int) -> None:
    """`name` in an open directory made to hold `data` (None: removed), durably. A link there is replaced
    or removed itself, never written through; a directory there is removed first (rmtree by descriptor
    follows no link)."""
    import stat

    from claude_docker import beneath

    try:
        if stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            beneath.rmtree_at(dir_fd, name)
    except FileNotFoundError:
        pass
    if data is None:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
    else:
        replace_file(name, data, mode, dir_fd=dir_fd)
    fsync_dir(dir_fd)


class TooLarge(OSError):
    """A file larger than its reader's limit: never read whole (a sparse file costs no disk, yet has any size)."""


def read_capped(source: Path | str | int, limit: int, follow: bool = False) -> bytes:
    """The bytes of a regular file, at most `limit` of them: TooLarge if it holds more (found by reading one
    byte past the limit, not only by its size: a file may grow while it is read). `source` is a path (opened
    without blocking, so a FIFO put there can't hang us, and without following a final link unless `follow`)
    or an open descriptor, read from where it stands and left open."""
    import stat

    fd = source if isinstance(source, int) else os.open(
        source, os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW))
    try:
        name = None if isinstance(source, int) else str(source)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", name)
        if st.st_size - os.lseek(fd, 0, os.SEEK_CUR) > limit:
            raise TooLarge(errno.EFBIG, f"larger than {limit} bytes", name)
        parts: list[bytes] = []
        got = 0
        while got <= limit:
            block = os.read(fd, min(limit + 1 - got, 1 << 20))
            if not block:
                return b"".join(parts)
            parts.append(block)
            got += len(block)
        raise TooLarge(errno.EFBIG, f"larger than {limit} bytes", name)
    finally:
        if not isinstance(source, int):
            os.close(fd)
