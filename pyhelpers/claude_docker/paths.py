"""Where things live on the host: the tool's state, Claude Code's config, the project root."""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("HOME") or os.path.expanduser("~"))


def state_dir() -> Path:
    """The tool's own state (sessions being synced, locks, image cache); 0700 since it holds token copies."""
    raw = os.environ.get("CLAUDE_DOCKER_STATE_DIR")
    return Path(raw).expanduser() if raw else home() / ".claude-docker"


def backup_dir() -> Path:
    """The backup store: CLAUDE_DOCKER_BACKUP_DIR (a shared disk, say), else inside the state dir."""
    raw = os.environ.get("CLAUDE_DOCKER_BACKUP_DIR")
    return Path(raw).expanduser() if raw else state_dir() / "backups"


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


class ClaudeHome(namedtuple("ClaudeHome", "config_dir claude_json custom")):
    """Claude Code's state on the host, laid out as Claude Code itself looks for it.

    Without CLAUDE_CONFIG_DIR: `~/.claude/` plus the sibling file `~/.claude.json`.
    With it (`custom`): everything, `.claude.json` included, inside that directory.
    """

    __slots__ = ()

    @classmethod
    def from_env(cls) -> "ClaudeHome":
        raw = os.environ.get("CLAUDE_CONFIG_DIR")
        if raw:
            config_dir = Path(raw).expanduser()
            if not config_dir.is_absolute():
                config_dir = Path.cwd() / config_dir
            return cls(config_dir, config_dir / ".claude.json", True)
        h = home()
        return cls(h / ".claude", h / ".claude.json", False)


def project_root(cwd: Path) -> Path:
    """The git top level above cwd (a `.git` dir, or a worktree's `.git` file), else cwd itself.

    Below HOME the search stops short of HOME: a dotfiles repository in HOME is not every folder's project."""
    user_home = Path(os.path.realpath(home()))
    cwd = Path(os.path.realpath(cwd))
    inside_home = user_home in cwd.parents
    for candidate in (cwd, *cwd.parents):
        if inside_home and candidate in (user_home, *user_home.parents):
            break
        if (candidate / ".git").exists():
            return candidate
    return cwd


def git_common_dir(root: Path) -> Path | None:
    """For a linked worktree (`.git` is a file), the main repository's `.git` dir, which git inside needs too.

    Only when that repository says so too (its worktrees/<name>/gitdir points back at this `.git`): a
    `.git` file is project content a session can write, and must not get an arbitrary dir mounted."""
    dotgit = root / ".git"
    if not dotgit.is_file():
        return None
    try:
        line = dotgit.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not line.startswith("gitdir:"):
        return None
    gitdir = Path(line[len("gitdir:"):].strip())
    if not gitdir.is_absolute():
        gitdir = (root / gitdir).resolve()
    # <main>/.git/worktrees/<name> → <main>/.git
    if gitdir.parent.name != "worktrees":
        return None
    try:
        back = Path((gitdir / "gitdir").read_text(encoding="utf-8", errors="replace").strip())
    except OSError:
        return None
    if os.path.realpath(back) != os.path.realpath(dotgit):
        return None
    return gitdir.parent.parent
