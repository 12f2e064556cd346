"""Git's self-running places in a session's project: nothing the session writes may run at the host's next
`git status`, commit or checkout.

Git runs what its config names (`core.fsmonitor`, `core.hooksPath`, `core.sshCommand`, aliases, filter and
diff drivers, `credential.helper`…) and what its hooks dir holds. So, in the session:

* every git dir it sees (the project's `.git`, a linked worktree's main repository, every submodule's under
  `modules/`) is pinned: bind-mounted onto itself, so it can't be renamed away and replaced by a look-alike;
  its `hooks/` and `config` (and a `config.worktree`) are mounted read-only. Git inside still commits,
  fetches and branches; what writes the config (`git remote add`) fails there;
* a `.git` *file* (a worktree's or a submodule's pointer) is read-only, so it can't be pointed elsewhere.

Two things a mount can't stop are checked when the session ends (`review`): a `commondir` or
`config.worktree` file that appeared in a git dir (git would read its config from there), and a repository
the session created where there was none (`git init` is a normal request; its hooks and any config beyond
plain data are removed and held).
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

from claude_docker import beneath
from claude_docker.boundary import policy

# Files that, created in a git dir, redirect where git reads its config.
REDIRECTS = ("commondir", "config.worktree")
# Config keys that are plain data (`git config --list` spelling: section and key lowercased).
SAFE_CONFIG = re.compile(r"core\.(repositoryformatversion|filemode|bare|logallrefupdates|ignorecase|precomposeunicode|"
                         r"symlinks)|remote\..+\.(url|fetch|pushurl)|branch\..+\.(remote|merge|rebase)|"
                         r"user\.(name|email)|init\.defaultbranch|extensions\.objectformat")
REASON = "git on your host would run it (hooks, or config that names a program)"
# What is kept of a file the session planted (for review), and the largest .gitmodules read: files in the
# project are the session's to make any size (sparse ones cost it no disk), so none is read whole.
MAX_KEPT = 1 << 20
MAX_GITMODULES = 4 << 20  # ~40,000 submodules


def git_dirs(project: Path, common: Path | None) -> list[Path]:
    """The git directories a session sees: the project's `.git`, a worktree's main one, and their submodules'."""
    found = []
    for top in (project / ".git", common):
        if top is None or top.is_symlink() or not top.is_dir():
            continue
        found.append(top)
        found += _submodule_dirs(top / "modules")
    return found


def _submodule_dirs(modules: Path) -> list[Path]:
    """The git dirs below `.git/modules/` (one holds both HEAD and config), found without following links."""
    if modules.is_symlink() or not modules.is_dir():
        return []
    seen: dict[str, set] = {}
    root = beneath.open_dir(modules)
    try:
        for rel, _st, kind in beneath.walk(root):
            parent, _, name = rel.rpartition("/")
            if kind == "file" and name in ("HEAD", "config") and parent:
                seen.setdefault(parent, set()).add(name)
    finally:
        os.close(root)
    return [modules / rel for rel, names in sorted(seen.items()) if len(names) == 2]


def _submodule_worktrees(project: Path) -> list[Path]:
    """The `.git` pointer files of the submodules `.gitmodules` lists (a session could re-point them)."""
    from claude_docker.fsio import read_capped

    try:
        text = read_capped(project / ".gitmodules", MAX_GITMODULES).decode("utf-8", errors="replace")
    except OSError:  # missing, not a regular file, or larger than any real one
        return []
    found = []
    for rel in re.findall(r"^\s*path\s*=\s*(.+?)\s*$", text, re.MULTILINE):
        dotgit = project / rel / ".git"
        if ".." not in Path(rel).parts and dotgit.is_file() and not dotgit.is_symlink():
            found.append(dotgit)
    return found


def mounts(project: Path, common: Path | None) -> list[tuple[Path, bool]]:
    """(path, read-only) of the mounts that protect git, each at its own path. Missing hooks dirs and
    worktree config files are made first (empty, as git makes them), since the session could otherwise."""
    dotgit = project / ".git"
    found = [(dotgit, True)] if dotgit.is_file() and not dotgit.is_symlink() else []
    found += [(p, True) for p in _submodule_worktrees(project)]
    for gitdir in git_dirs(project, common):
        found.append((gitdir, False))  # pinned: a mount point can't be renamed or removed
        for container in ("modules", "worktrees"):
            if (gitdir / container).is_dir() and not (gitdir / container).is_symlink():
                found.append((gitdir / container, False))  # pinned too, or it could be swapped whole
        hooks = gitdir / "hooks"
        worktrees = sorted(p for p in gitdir.glob("worktrees/*") if p.is_dir() and not p.is_symlink())
        for path in (hooks, *(w / "config.worktree" for w in worktrees)):
            try:
                hooks.mkdir(mode=0o755, exist_ok=True) if path == hooks else path.touch(mode=0o644, exist_ok=True)
            except OSError:
                pass
        found += [(w, False) for w in worktrees]
        for path in (hooks, gitdir / "config", gitdir / "config.worktree",
                     *(w / name for w in worktrees for name in ("config.worktree", "commondir", "gitdir"))):
            if path.exists() and not path.is_symlink():
                found.append((path, True))
    return found


def snapshot(project: Path, common: Path | None) -> dict:
    """What review() compares with: which git dirs there were, and the redirect files they held."""
    dirs = git_dirs(project, common)
    return {"repo": (project / ".git").exists() or (project / ".git").is_symlink(),
            "dirs": {str(d): [name for name in REDIRECTS if os.path.lexists(d / name)] for d in dirs},
            "since_ns": time.time_ns() - 1_000_000_000}


def _git(project: Path, *args: str):
    """git on the host in the project (its CompletedProcess, None if it could not run), running nothing the
    repository names (no fsmonitor, no hooks)."""
    import subprocess  # here: not on the path of a start without git

    env = {"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
           "GIT_OPTIONAL_LOCKS": "0"}
    try:
        return subprocess.run(["git", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-C",
                               str(project), *args], capture_output=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _gitlinks(project: Path) -> list[str]:
    """The paths the index records as submodules (mode 160000)."""
    out = _git(project, "ls-files", "--stage", "-z")
    if out is None or out.returncode != 0:
        return []
    return sorted(entry.split(b"\t", 1)[1].decode("utf-8", "surrogateescape")
                  for entry in out.stdout.split(b"\0") if entry.startswith(b"160000 "))


def _head(path: Path) -> bytes | None:
    """The first MAX_KEPT bytes of a regular file the session wrote, for the record (None for a link, a FIFO,
    a directory or nothing): never blocks, never follows a link, never reads a large file whole."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read(MAX_KEPT) if stat.S_ISREG(os.fstat(f.fileno()).st_mode) else None


def _remove(path: Path) -> bytes | None:
    """Remove a file the session planted, never following a link; its first bytes (_head)."""
    data = _head(path)
    try:
        os.unlink(path)
    except IsADirectoryError:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    except FileNotFoundError:
        pass
    return data


# A rebase, `git am` or cherry-pick left in progress: its todo `exec` lines and its merge strategy (a program
# name git runs) run when the user continues it.
STATE_DIRS = ("rebase-merge", "rebase-apply", "sequencer")
HELD_SUFFIX = ".held-by-claude-docker"


def review(record: dict, project: Path, held) -> list[dict]:
    """Undo what the session did to git that git on the host would obey, keeping it in `held`."""
    items = []
    since = int(record.get("since_ns", 0))
    known = set(record["dirs"])
    for gitdir, before in record["dirs"].items():
        for name in REDIRECTS:
            path = Path(gitdir) / name
            if name not in before and os.path.lexists(path):
                items.append(_hold(held, path, _remove(path), project))
        for state_of in (Path(gitdir), *sorted(Path(gitdir).glob("worktrees/*"))):
            items += _review_state(state_of, project, held, since)
    dotgit = project / ".git"
    if not record["repo"] and (dotgit.is_symlink() or dotgit.is_file()):
        items.append(_set_aside(dotgit, project, held, "a repository pointer the session made"))
    elif not record["repo"] and dotgit.is_dir():
        items += _review_new_repo(dotgit, project, held)
    if dotgit.is_dir() and not dotgit.is_symlink():
        items += _review_submodules(project, known, held)
    return items


def _review_state(gitdir: Path, project: Path, held, since_ns: int) -> list[dict]:
    """A rebase or cherry-pick the session started or changed is abandoned (its state removed; the commits
    stay reachable from the reflog): continuing it would run what the session wrote into it."""
    from claude_docker import beneath

    items = []
    for name in STATE_DIRS:
        path = gitdir / name
        if path.is_symlink() or not path.is_dir():
            continue
        root = beneath.open_dir(path)
        try:
            changed = os.fstat(root).st_ctime_ns >= since_ns or any(
                st.st_ctime_ns >= since_ns for _rel, st, _kind in beneath.walk(root))
        finally:
            os.close(root)
        if not changed:
            continue
        todo = next((path / t for t in ("git-rebase-todo", "todo") if (path / t).is_file()), None)
        items.append(held.add_file(gitdir, name, f"{path} (a {name} in progress, abandoned)",
                                   _head(todo) if todo else None,
                                   policy.Verdict(policy.REFUSE, "continuing it would run what the session wrote")))
        parent = beneath.open_dir(gitdir)
        try:
            beneath.rmtree_at(parent, name)
        finally:
            os.close(parent)
    return items


def _review_submodules(project: Path, known: set, held) -> list[dict]:
    """`git status` on the host enters every submodule the index names and obeys its repository's config. One
    whose `.git` is not a pointer into a git dir the session began with (a directory, a link, a pointer
    elsewhere) is set aside, so git sees it as not checked out."""
    items = []
    for rel in _gitlinks(project):
        dotgit = project / rel / ".git"
        if not os.path.lexists(dotgit) or _points_into(dotgit, known):
            continue
        items.append(_set_aside(dotgit, project, held, "a submodule repository git status would enter"))
    return items


def _points_into(dotgit: Path, known: set) -> bool:
    from claude_docker.paths import gitdir_pointer

    target = gitdir_pointer(dotgit)
    return target is not None and os.path.realpath(target) in {os.path.realpath(k) for k in known}


def _set_aside(path: Path, project: Path, held, why: str) -> dict:
    """Rename what git would obey out of its way (beside it, for the user to look at), and list it."""
    aside = path.with_name(f"{path.name}{HELD_SUFFIX}-{os.urandom(3).hex()}")
    os.rename(path, aside)
    rel = str(path.relative_to(project)) if project in path.parents else str(path)
    return held.add_file(project, rel, f"{rel} (set aside as {aside.name})", None,
                         policy.Verdict(policy.REFUSE, why))


def _hold(held, path: Path, data: bytes | None, project: Path) -> dict:
    root, rel = (project, str(path.relative_to(project))) if project in path.parents else (path.parent, path.name)
    return held.add_file(root, rel, str(path.relative_to(project)) if root == project else str(path), data,
                         policy.Verdict(policy.HOLD, REASON))


def _review_new_repo(dotgit: Path, project: Path, held) -> list[dict]:
    """A repository the session created: its hooks (not git's own samples) and its config keys that name a
    program are removed; what is left is a plain repository."""
    items = [_hold(held, dotgit / name, _remove(dotgit / name), project)
             for name in REDIRECTS if os.path.lexists(dotgit / name)]
    hooks = dotgit / "hooks"
    if hooks.is_symlink():
        items.append(_hold(held, hooks, _remove(hooks), project))
    elif hooks.is_dir():
        for entry in sorted(os.scandir(hooks), key=lambda e: e.name):
            if not entry.name.endswith(".sample") or entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                items.append(_hold(held, Path(entry.path), _remove(Path(entry.path)), project))
    config = dotgit / "config"
    if config.is_symlink() or (config.exists() and not config.is_file()):
        items.append(_hold(held, config, _remove(config), project))
    elif config.exists():
        entries = _config_entries(config)
        unsafe = [k for k, _ in entries if not SAFE_CONFIG.fullmatch(k)] if entries is not None else ["?"]
        if unsafe:
            data = _head(config)
            _rewrite_config(config, [(k, v) for k, v in entries or [] if SAFE_CONFIG.fullmatch(k)])
            items.append(_hold(held, config, data, project))
    return items


def _config_entries(config: Path) -> list[tuple[str, str]] | None:
    """The (key, value) pairs of a git config file, read by git itself (no includes followed, nothing run);
    None if git can't read it."""
    import subprocess

    try:
        out = subprocess.run(["git", "config", "--file", str(config), "--no-includes", "--null", "--list"],
                             capture_output=True, timeout=10, env={"PATH": os.environ.get("PATH", ""),
                                                                   "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    pairs = []
    for record in out.stdout.split(b"\0"):
        if record:
            key, _, value = record.decode("utf-8", "replace").partition("\n")
            pairs.append((key, value))
    return pairs


def _rewrite_config(config: Path, pairs: list[tuple[str, str]]) -> None:
    """A config holding only `pairs`, written by git into a temp file then renamed over the old one."""
    import subprocess

    from claude_docker.fsio import write_atomic

    tmp = config.with_name(f".config.cd-new-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}
    try:
        for key, value in pairs:
            subprocess.run(["git", "config", "--file", str(tmp), "--add", key, value], check=True, capture_output=True,
                           timeout=10, env=env)
        data = tmp.read_bytes() if tmp.exists() else b""
    except (OSError, subprocess.SubprocessError):
        data = b"[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"
    finally:
        tmp.unlink(missing_ok=True)
    write_atomic(config, data)
