"""The one exception type for expected failures: a message for people and an exit status; and the one
wording of a system error (describe), so a full disk always names where."""

from __future__ import annotations

import errno

from claude_docker import exitcodes

FULL = (errno.ENOSPC, errno.EDQUOT)


class ToolError(Exception):
    """`message` is the line people see; with a `fix`, that is "problem: fix", and `doctor` shows the two
    apart (`problem`, `fix`)."""

    def __init__(self, message: str, code: int = exitcodes.FAILURE, fix: str = ""):
        self.problem = message
        self.fix = fix
        self.message = f"{message}: {fix}" if fix else message
        super().__init__(self.message)
        self.code = code


def describe(exc: OSError, path: object = None) -> str:
    """`exc` as one line naming the path it concerns (its own, else `path`, what the caller was writing).
    A full disk or quota names what is full: freeing space there is the fix."""
    where = exc.filename if exc.filename is not None else path
    if exc.errno in FULL:
        what = "no space left" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        return f"{what} on the file system holding {where}" if where is not None else what
    reason = exc.strerror or str(exc)
    return f"{reason}: {where}" if where is not None else reason
