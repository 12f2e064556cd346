"""Detached helper processes: a `claude-docker` subcommand in its own session with stdio on /dev/null,
started and left, so the caller (a `claude` run) never waits on it."""

from __future__ import annotations

import os
import sys


def spawn_detached(args: list[str]) -> None:
    devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    try:
        os.posix_spawn(sys.executable, [sys.executable, "-I", "-m", "claude_docker", *args],
                       os.environ, file_actions=devnull, setsid=True)
    except OSError:
        pass  # what it would have done is caught up by the next one
