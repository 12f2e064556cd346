"""Opening, walking and creating paths beneath a directory without ever following a link.

Directories of Claude's config dir are bind-mounted read-write into a container that may run a hostile
agent. It can plant links and FIFOs there, and turn a directory into a link at any moment while the host
reads or writes below it. Everything here works relative to an open directory descriptor, and no link
below that directory is followed, at any component, even one raced in between two system calls:

* openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS resolves a whole relative path
  in the kernel and refuses any link on the way (Linux 5.6 and later; called through ctypes);
* where the kernel lacks it (ENOSYS, or EPERM from an older container runtime's seccomp filter), one
  openat per component with O_NOFOLLOW | O_DIRECTORY, each relative to the one before.

Both refuse the same paths with the same exception, Escape. Relative paths are plain: no `..`, `.`, empty
parts or leading `/`; "" names the directory itself.

    root = open_dir(config_dir)                            # resolved once: the user's own link is fine
    fd = open_beneath(root, "projects/p/x.jsonl", os.O_RDONLY)
    for rel, st, kind in walk(root): ...                   # kind: file, dir, link, other
    fd = mkdirs_beneath(root, "projects/p/sub", 0o700)     # made one component at a time
    fd = open_regular(root, "projects/p/x.jsonl")          # a regular file, never a FIFO; readlink() too
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Callable, Iterator  # not typing: ~3 ms on every claude start

_DIR_STEP = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW  # traverse only: needs search, not read, permission
_DIR_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_RESOLVE = 0x02 | 0x04 | 0x08  # RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH
_SYS_OPENAT2 = 437 if os.uname().machine in ("x86_64", "aarch64") else None

# Whether open_beneath uses openat2: None until the first call finds out, False after ENOSYS (tests set it).
USE_OPENAT2: bool | None = None if _SYS_OPENAT2 else False
_openat2 = None


class Escape(OSError):
    """A component of a path beneath a directory is a link, or not a directory where one was needed: the path
    could lead out of the directory, and was not followed. `filename` is the path up to the component at
    fault when it is known, else the whole path."""


class NotRegular(OSError):
    """Not a regular file (a FIFO, socket or device): never read, since it could block or never end."""


def _parts(relpath: str) -> list[str]:
    if relpath == "":
        return []
    parts = relpath.split("/")
    if "\0" in relpath or any(p in ("", ".", "..") for p in parts):
        raise Escape(errno.EXDEV, "is not a plain path beneath the directory", relpath)
    return parts


def _escape(exc: OSError, dir_fd: int, name: str, path: str) -> OSError:
    """What to raise for a failed open of `name` below `dir_fd` (`path` beneath the tree's top): Escape, saying
    which, if it was a link or not a directory; else the error itself."""
    if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
        exc.filename = path
        return exc
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError:
        mode = 0
    if stat.S_ISLNK(mode):
        why = "is a link, not followed"
    elif stat.S_ISDIR(mode):  # it changed back since: what the open met is gone
        why = "was a link or not a directory as it was opened, not followed"
    else:
        why = "is not a directory"
    return Escape(exc.errno, why, path)


def _by_components(dir_fd: int, parts: list[str], flags: int, mode: int) -> int:
    fd = dir_fd
    try:
        for i, part in enumerate(parts[:-1]):
            try:
                nxt = os.open(part, _DIR_STEP, dir_fd=fd)
            except OSError as exc:
                raise _escape(exc, fd, part, "/".join(parts[:i + 1])) from None
            if fd != dir_fd:
                os.close(fd)
            fd = nxt
        try:
            return os.open(parts[-1] if parts else ".", flags | os.O_NOFOLLOW, mode, dir_fd=fd)
        except OSError as exc:
            raise (_escape(exc, fd, parts[-1], "/".join(parts)) if parts else exc) from None
    finally:
        if fd != dir_fd:
            os.close(fd)


def _diagnose(exc: OSError, dir_fd: int, parts: list[str]) -> OSError:
    """openat2 refused a path: walk to its last directory by components (opening nothing else), so that the
    error names the component at fault."""
    try:
        parent = _by_components(dir_fd, parts[:-1], _DIR_STEP, 0) if len(parts) > 1 else None
    except OSError as found:
        return found
    try:
        return _escape(exc, dir_fd if parent is None else parent, parts[-1], "/".join(parts))
    finally:
        if parent is not None:
            os.close(parent)


def _load_openat2():
    """openat2 through libc's syscall(): (dir_fd, path, flags, mode) -> fd, raising OSError."""
    import ctypes

    syscall = ctypes.CDLL(None, use_errno=True).syscall
    syscall.restype = ctypes.c_long
    # Declared (syscall is variadic; on x86_64 and aarch64 Linux these pass as fixed arguments would): saves
    # building ctypes objects on every call.
    syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]

    class OpenHow(ctypes.Structure):
        _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]

    size = ctypes.sizeof(OpenHow)

    def call(dir_fd: int, path: str, flags: int, mode: int) -> int:
        # openat2 refuses a mode without O_CREAT; the descriptor is close-on-exec, as os.open's are.
        how = OpenHow(flags | os.O_CLOEXEC, mode if flags & os.O_CREAT else 0, _RESOLVE)
        fd = syscall(_SYS_OPENAT2, dir_fd, os.fsencode(path), ctypes.addressof(how), size)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
        return fd

    return call


def open_beneath(dir_fd: int, relpath: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """os.open of `relpath` below `dir_fd`, following no link at any component (O_NOFOLLOW is always added).
    Raises Escape if a component is a link or not a directory, FileNotFoundError if one is missing."""
    global USE_OPENAT2, _openat2  # noqa: PLW0603 - the openat2 probe runs once per process, on first use
    parts = _parts(relpath)
    if USE_OPENAT2 is not False and parts:
        try:
            if _openat2 is None:
                _openat2 = _load_openat2()
            fd = _openat2(dir_fd, relpath, flags | os.O_NOFOLLOW, mode)
            USE_OPENAT2 = True
            return fd
        except OSError as exc:
            if exc.errno == errno.ENOSYS or (exc.errno == errno.EPERM and USE_OPENAT2 is None):
                USE_OPENAT2 = False  # no openat2 here: the component walk is as safe, one call per component
            elif exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
                raise _diagnose(exc, dir_fd, parts) from None
            else:
                raise
    return _by_components(dir_fd, parts, flags, mode)


def open_dir(root) -> int:
    """A descriptor of the directory `root`, the top of a tree to work beneath. The root itself may be reached
    through links (the user's own symlinked ~/.claude): it is resolved once, here."""
    return os.open(os.path.realpath(root), _DIR_OPEN)


def open_regular(dir_fd: int, relpath: str) -> int:
    """A regular file below `dir_fd`, opened for reading. O_NONBLOCK, so that a FIFO put in its place can't
    block the open; anything but a regular file raises NotRegular."""
    fd = open_beneath(dir_fd, relpath, os.O_RDONLY | os.O_NONBLOCK)
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    raise NotRegular(errno.EINVAL, "is not a regular file", relpath)


def readlink(dir_fd: int, relpath: str) -> str:
    """The target of the link `relpath` below `dir_fd`, its directory reached without following links."""
    parent, _, name = relpath.rpartition("/")
    if not name:
        raise Escape(errno.EXDEV, "is not a plain path beneath the directory", relpath)
    fd = open_beneath(dir_fd, parent, _DIR_STEP)
    try:
        return os.readlink(name, dir_fd=fd)
    finally:
        os.close(fd)


def mkdirs_beneath(dir_fd: int, relpath: str, mode: int = 0o700) -> int:
    """A descriptor (O_RDONLY, for fsync and as a dir_fd) of the directory `relpath` below `dir_fd`, each
    missing component made on the way with `mode` (less the umask). Every component is made with mkdirat
    and then opened with O_NOFOLLOW | O_DIRECTORY relative to the one before: a link there, planted before
    or raced in after the mkdirat, raises Escape, and nothing is ever made through it."""
    parts = _parts(relpath)
    fd = os.open(".", _DIR_OPEN, dir_fd=dir_fd)
    try:
        for i, part in enumerate(parts):
            try:
                os.mkdir(part, mode, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                nxt = os.open(part, _DIR_OPEN if i == len(parts) - 1 else _DIR_STEP, dir_fd=fd)
            except OSError as exc:
                raise _escape(exc, fd, part, "/".join(parts[:i + 1])) from None
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def parent_of(dir_fd: int, relpath: str, create: bool, mode: int = 0o700) -> tuple[int, str]:
    """(a descriptor of the directory holding `relpath`, its last name), the directories made on the way
    when `create` (mkdirs_beneath), else only opened (FileNotFoundError if one is missing)."""
    parent, _, name = relpath.rpartition("/")
    if create:
        return mkdirs_beneath(dir_fd, parent, mode), name
    return open_beneath(dir_fd, parent, os.O_RDONLY | os.O_DIRECTORY), name


def rmtree_at(dir_fd: int, name: str) -> None:
    """Remove `name` (a directory, and everything in it) from the directory open as `dir_fd`. shutil.rmtree
    works by descriptor and removes a link below it as a link, never following it; `name` itself being a link
    raises OSError. Its dir_fd argument is Python 3.11+: before, the same directory is named through /proc."""
    import shutil

    if "/" in name or name in ("", ".", ".."):
        raise Escape(errno.EXDEV, "is not a plain name in the directory", name)
    if sys.version_info >= (3, 11):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        shutil.rmtree(f"/proc/self/fd/{dir_fd}/{name}")


def walk(dir_fd: int, include: Callable[[str, os.stat_result], bool] | None = None,
         onerror: Callable[[str, OSError], None] | None = None) -> Iterator[tuple[str, os.stat_result, str]]:
    """Everything below `dir_fd`, depth first in name order: (path relative to it, stat result, kind), kind
    one of "file", "dir", "link", "other" (FIFO, socket, device). The stat is fstatat's without following
    links (a directory's is fstat's of the descriptor it was entered by). Links are reported, never followed.

    A directory is entered by openat with O_NOFOLLOW | O_DIRECTORY relative to its parent's descriptor, so
    one turned into a link between being listed and being entered is not entered, nor reported as a
    directory: `onerror(path, Escape)` is called instead, as it is with any other OSError of a directory
    (unreadable). An entry gone before it was looked at is left out. `include(path, stat)` False leaves an
    entry out, and for a directory everything below it. Holds one descriptor per level of depth."""
    stack: list[tuple[str, int, Iterator[str] | None]] = [("", dir_fd, None)]
    try:
        while stack:
            rel, fd, names = stack[-1]
            if names is None:
                try:
                    names = iter(sorted(os.listdir(fd)))
                except OSError as exc:
                    names = iter(())
                    if onerror:
                        onerror(rel, exc)
                stack[-1] = (rel, fd, names)
            name = next(names, None)
            if name is None:
                stack.pop()
                if fd != dir_fd:
                    os.close(fd)
                continue
            path = f"{rel}/{name}" if rel else name
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:
                if onerror:
                    onerror(path, exc)
                continue
            if stat.S_ISDIR(st.st_mode):
                try:
                    sub = os.open(name, _DIR_OPEN, dir_fd=fd)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    if onerror:
                        onerror(path, _escape(exc, fd, name, path))
                    continue
                st = os.fstat(sub)  # what was entered, should it differ from what was listed
                if include and not include(path, st):
                    os.close(sub)
                    continue
                stack.append((path, sub, None))  # before the yield: closed by the finally if the caller stops
                yield path, st, "dir"
                continue
            if include and not include(path, st):
                continue
            kind = "file" if stat.S_ISREG(st.st_mode) else "link" if stat.S_ISLNK(st.st_mode) else "other"
            yield path, st, kind
    finally:
        for _, fd, _ in stack:
            if fd != dir_fd:
                os.close(fd)
