"""What a bind mount may expose: project roots refused, and the worktree's main git dir allowed or not.

Compared as real paths: a symlinked HOME or a dotfiles-linked ~/.claude must not slip past a comparison of
spellings.
"""

from __future__ import annotations

import os
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.paths import ClaudeHome, git_common_dir, state_dir


def is_within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def guarded_paths(user_home: Path, claude: ClaudeHome) -> tuple[Path, ...]:
    """HOME, Claude's config and our state, as real paths: a symlinked HOME or a dotfiles-linked ~/.claude
    must not slip past a comparison of spellings."""
    return tuple(Path(os.path.realpath(p)) for p in (user_home, claude.config_dir, claude.claude_json, state_dir()))


def exposes_guarded(path: Path, guarded: tuple[Path, ...]) -> Path | None:
    """The guarded path a bind mount of `path` would expose: one inside it, or one it is inside of
    (HOME excepted for the latter: projects live in HOME)."""
    path = Path(os.path.realpath(path))
    for g in guarded:
        if is_within(g, path) or (g != guarded[0] and is_within(path, g)):
            return g
    return None


def check_project(project: Path, user_home: Path, claude: ClaudeHome) -> None:
    """Refuse project roots that are system directories, whose mount would expose or shadow the host's
    Claude state or ours, or that are or hold the user's sockets (tmux, ssh-agent, X11, D-Bus, gpg-agent)."""
    from claude_docker.paths import exposed_socket_dir, is_system_dir

    def refuse(why: str):
        raise ToolError(f"refusing to run in {project}: {why}; cd into a project directory", exitcodes.TOOL_FAILED)

    if is_system_dir(project, user_home):  # first: a system dir is no project even with HOME below it (/tmp)
        refuse("it is a system directory, not a project")
    exposed = exposes_guarded(project, guarded_paths(user_home, claude))
    if exposed is not None:
        refuse(f"mounting it would expose {exposed}, which a session must only see through claude-docker")
    socket = exposed_socket_dir(project, user_home)
    if socket is not None:
        refuse(f"mounting it would expose {socket[0]} {socket[1]}, through which a session could act on the host")


def mounted_common_dir(project: Path, user_home: Path, claude: ClaudeHome) -> Path | None:
    """A linked worktree's main git dir, which the session gets too, unless it would expose guarded state."""
    common = git_common_dir(project)
    if common is not None and not is_within(common, project) \
            and exposes_guarded(common, guarded_paths(user_home, claude)) is None:
        return common
    return None
