"""The session's staged files, read as the hostile input they are."""

from __future__ import annotations

import os
import stat

from claude_docker import beneath
from claude_docker.fsio import TooLarge, read_capped, signature

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.sessiondir import SessionDir

MAX_STAGED_FILE = 64 * 1024 * 1024


class Invalid(Exception):
    """A staged entry this process must not read (a link, a FIFO, too large, …): the message says why."""


class StagedTree:
    """The session's staged files, seen from its session dir, which no container can reach.

    Every path below it is opened beneath the session dir without following a link at any component
    (beneath.py), and only regular files are read (never a FIFO or a device, which could block or lie): a
    link the container planted at any depth, even in place of the staged config dir itself, can't make this
    process read or list a host file."""

    def __init__(self, session: SessionDir):
        self.root = beneath.open_dir(session.path)

    def __enter__(self) -> StagedTree:
        return self

    def __exit__(self, *_exc) -> None:
        os.close(self.root)

    def _open(self, key: str, flags: int) -> int | None:
        """A descriptor of a staged path, None if it is gone."""
        try:
            return beneath.open_beneath(self.root, key, flags)
        except FileNotFoundError:
            return None
        except beneath.Escape as exc:
            raise Invalid(f"{exc.filename} was replaced by a link or a file") from None

    def signature(self, key: str) -> list[int] | None:
        parent, _, name = key.rpartition("/")
        d = self._open(parent, os.O_RDONLY | os.O_DIRECTORY)
        if d is None:
            return None
        try:
            st = os.stat(name, dir_fd=d, follow_symlinks=False)
        except FileNotFoundError:
            return None
        finally:
            os.close(d)
        return signature(st)

    def _what(self, key: str) -> str:
        """What a staged path that is not a regular file is, for the line that says so."""
        parent, _, name = key.rpartition("/")
        d = self._open(parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            mode = os.stat(name, dir_fd=d, follow_symlinks=False).st_mode if d is not None else 0
        except OSError:
            mode = 0
        finally:
            if d is not None:
                os.close(d)
        return "a directory" if stat.S_ISDIR(mode) else "a FIFO, socket or device"

    def read(self, key: str, offset: int = 0) -> bytes | None:
        """A staged regular file's bytes from `offset`, or None if it is gone."""
        try:
            fd = beneath.open_regular(self.root, key)
        except FileNotFoundError:
            return None
        except beneath.NotRegular:
            raise Invalid(f"{self._what(key)} where a file belongs") from None
        except beneath.Escape as exc:
            raise Invalid("a link (links are never followed)" if exc.filename == key
                          else f"{exc.filename} was replaced by a link") from None
        except OSError as exc:
            raise Invalid(f"unreadable ({exc.strerror})") from None
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            return read_capped(fd, MAX_STAGED_FILE)
        except TooLarge:
            raise Invalid(f"larger than {MAX_STAGED_FILE >> 20} MiB") from None
        finally:
            os.close(fd)

    def entries(self, key: str) -> list[tuple[str, bool]]:
        """(name, is a real directory) of what a staged dir holds."""
        d = self._open(key, os.O_RDONLY | os.O_DIRECTORY)
        if d is None:
            return []
        try:
            with os.scandir(d) as it:
                return sorted((e.name, e.is_dir(follow_symlinks=False)) for e in it)
        finally:
            os.close(d)

    def files_under(self, key: str) -> list[str]:
        """Keys of the regular files and links below a staged dir; links are not followed."""
        d = self._open(key, os.O_RDONLY | os.O_DIRECTORY)
        if d is None:
            return []
        try:
            return [f"{key}/{rel}" for rel, _st, kind in beneath.walk(d) if kind != "dir"]
        finally:
            os.close(d)
