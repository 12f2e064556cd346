"""Where things live on the host: the tool's state, Claude Code's config, the project root."""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

from claude_docker import envspec


def home() -> Path:
    """The user's home (envspec.home decides it: $HOME, else the password database's)."""
    return Path(envspec.home())


def state_dir() -> Path:
    """The tool's own state (sessions being synced, locks, image cache); 0700 since it holds token copies."""
    raw = envspec.get("CLAUDE_DOCKER_STATE_DIR")
    return Path(raw) if raw else home() / ".claude-docker"


def backup_dir() -> Path:
    """The backup store: CLAUDE_DOCKER_BACKUP_DIR (a shared disk, say), else inside the state dir."""
    raw = envspec.get("CLAUDE_DOCKER_BACKUP_DIR")
    return Path(raw) if raw else state_dir() / "backups"


def ensure_private_dir(path: Path) -> Path:
    """`path` made 0700 if missing, and so is each missing directory above it (Path.mkdir's `parents` would
    make those 0777 less the umask: a `held/` or `quarantine/` of token copies others could list)."""
    try:
        path.mkdir(mode=0o700, exist_ok=True)
    except FileNotFoundError:
        ensure_private_dir(path.parent)
        path.mkdir(mode=0o700, exist_ok=True)
    return path


class ClaudeHome(namedtuple("ClaudeHome", "config_dir claude_json custom")):
    """Claude Code's state on the host, laid out as Claude Code itself looks for it.

    Without CLAUDE_CONFIG_DIR: `~/.claude/` plus the sibling file `~/.claude.json`.
    With it (`custom`): everything, `.claude.json` included, inside that directory.
    """

    __slots__ = ()

    @classmethod
    def from_env(cls) -> ClaudeHome:
        raw = os.environ.get("CLAUDE_CONFIG_DIR")
        if raw:
            config_dir = Path(envspec.expand(raw))
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


# Never a project: mounting one gives a session the machine's own files (and, for /tmp and /run, every
# program's sockets). A project below one (/opt/work/app, /srv/git/repo, a scratch dir in /tmp) is fine.
SYSTEM_DIRS = ("/", "/tmp", "/var", "/usr", "/etc", "/opt", "/srv", "/mnt", "/media", "/run", "/proc", "/sys",
               "/dev", "/boot", "/bin", "/sbin", "/lib", "/root")


def _socket_dirs(user_home: str) -> list[tuple[str, str]]:
    """(what, real path) of the user's agent sockets and runtime dirs: mounted into a session, one would let
    it drive the host's tmux, ssh-agent, X server, D-Bus or gpg-agent outside the sandbox."""
    env, uid = os.environ, os.getuid()
    found = [("tmux's sockets", f"/tmp/tmux-{uid}"), ("the X11 sockets", "/tmp/.X11-unix"),
             ("the XDG runtime dir", f"/run/user/{uid}"), ("gpg-agent's dir", f"{user_home}/.gnupg")]
    if env.get("TMUX_TMPDIR"):
        found.append(("tmux's sockets", f"{env['TMUX_TMPDIR']}/tmux-{uid}"))
    if env.get("TMUX"):
        found.append(("tmux's sockets", os.path.dirname(env["TMUX"].split(",")[0])))
    if env.get("SSH_AUTH_SOCK"):
        found.append(("ssh-agent's socket dir", os.path.dirname(env["SSH_AUTH_SOCK"])))
    if env.get("XDG_RUNTIME_DIR"):
        found.append(("the XDG runtime dir", env["XDG_RUNTIME_DIR"]))
    if env.get("GNUPGHOME"):
        found.append(("gpg-agent's dir", env["GNUPGHOME"]))
    for address in env.get("DBUS_SESSION_BUS_ADDRESS", "").split(";"):  # unix:path=/run/user/1000/bus,guid=…
        for key, _, value in (kv.partition("=") for kv in address.partition(":")[2].split(",")):
            if key == "path":
                found.append(("D-Bus's socket dir", os.path.dirname(value)))
    # A relative or empty value would resolve against the cwd and so match every project: ignored.
    return [(what, os.path.realpath(p)) for what, p in found if os.path.isabs(p)]


def is_system_dir(project: Path, user_home: Path) -> bool:
    """Is `project` `/`, a system directory or any /lib* (lib64, libx32 …)? Compared by identity (device and
    inode), which resolves links as real paths would (/bin may be /usr/bin) at one stat each. /root not when
    it is HOME: HOME's own guard refuses it, while its subdirectories stay projects."""
    try:
        st = os.stat(project)
    except OSError:
        return False  # gone: nothing to mount
    try:
        libs = tuple(f"/{name}" for name in os.listdir("/") if name.startswith("lib"))
    except OSError:
        libs = ()
    for path in SYSTEM_DIRS + libs:
        try:
            if os.path.samestat(st, os.stat(path)):
                return not (path == "/root" and os.path.samestat(st, os.stat(user_home)))
        except OSError:
            continue
    return False


def exposed_socket_dir(project: Path, user_home: Path) -> tuple[str, str] | None:
    """(what, real path) of the first socket or runtime dir a mount of `project` would expose (it is that dir,
    or holds it); None if none. Compared as real paths."""
    real = os.path.realpath(project)
    inside = real.rstrip("/") + "/"
    for what, path in _socket_dirs(os.path.realpath(user_home)):
        if path == real or path.startswith(inside):
            return what, path
    return None


# A `.git` pointer is one line naming a path (PATH_MAX is 4096 bytes). Project content a session writes: a
# larger one (a sparse file of any size costs the writer no disk) is no pointer, and is never read whole.
MAX_GITDIR_POINTER = 8192


def gitdir_pointer(dotgit: Path) -> Path | None:
    """Where a `.git` file (a worktree's or a submodule's) points (a relative path resolved against it, an
    absolute one as written); None if it is no such file."""
    from claude_docker.fsio import read_capped

    try:
        line = read_capped(dotgit, MAX_GITDIR_POINTER).decode("utf-8", errors="replace").strip()
    except OSError:  # missing, a link, a directory or FIFO, or too large
        return None
    if not line.startswith("gitdir:") or "\0" in line:
        return None
    gitdir = Path(line[len("gitdir:"):].strip())
    return gitdir if gitdir.is_absolute() else (dotgit.parent / gitdir).resolve()


def git_common_dir(root: Path) -> Path | None:
    """For a linked worktree (`.git` is a file), the main repository's `.git` dir, which git inside needs too.

    Only when that repository says so too (its worktrees/<name>/gitdir points back at this `.git`): a
    `.git` file is project content a session can write, and must not get an arbitrary dir mounted."""
    dotgit = root / ".git"
    gitdir = gitdir_pointer(dotgit)
    if gitdir is None:
        return None
    # <main>/.git/worktrees/<name> → <main>/.git
    if gitdir.parent.name != "worktrees":
        return None
    from claude_docker.fsio import read_capped

    try:  # where the pointer leads is the session's choice too: read no more than a pointer's worth
        back = read_capped(gitdir / "gitdir", MAX_GITDIR_POINTER, follow=True).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if "\0" in back or os.path.realpath(back) != os.path.realpath(dotgit):
        return None
    return gitdir.parent.parent
