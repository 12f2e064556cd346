"""What a backup holds, and which of its files must parse for it to count as good.

Paths in a backup are relative and layout-free: `claude.json` is Claude Code's `.claude.json` (beside
`~/.claude`, or inside `$CLAUDE_CONFIG_DIR`), and `config/<path>` is everything in the config dir. A backup
restores into wherever Claude Code looks now.

Two scopes:
* full: the whole state, transcripts included (gigabytes: each backup stores only what changed);
* config: the top-level files, which are what config sync writes (the directories are bind-mounted and
  written by Claude Code itself): the small backup taken before every sync that changes the host.

Left out: per-process state (`sessions/`, `shell-snapshots/`, `ide/`), lock and temp files, sockets and
devices, the backup store itself, and links inside the config dir that could point outside it (any with
an absolute target or a `..`: a backup holding one is refused, so ours never do). Each one left out is
listed in the manifest.

The state is read and written through directory descriptors (Roots): below its roots no link is followed
at any component, since a session's container can write there and turn a directory into a link at any
moment (beneath.py). A link is recorded as a link, its target never read.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from claude_docker import beneath
from claude_docker.boundary.policy import PER_PROCESS_DIRS
from claude_docker.fsio import is_transient

TYPE_CHECKING = False  # not typing's: its import costs ~5 ms (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.paths import ClaudeHome

CLAUDE_JSON = "claude.json"
CONFIG = "config"
SCOPES = ("full", "config")

# One thing to back up: its key, kind (file, dir, link), where it is (an open root of Roots and the path
# beneath it), its stat without following links, and a link's target.
Item = namedtuple("Item", "key kind root rel st target")


def host_str(claude: ClaudeHome, key: str) -> str:
    """Where a backup's path goes on this host (a string: restores map tens of thousands of these)."""
    if key == CLAUDE_JSON:
        return str(claude.claude_json)
    return f"{claude.config_dir}/{key[len(CONFIG) + 1:]}" if key != CONFIG else str(claude.config_dir)


def host_path(claude: ClaudeHome, key: str) -> Path:
    return Path(host_str(claude, key))


def file_name(key: str) -> str:
    """A file of the backup as people know it: `.claude.json`, `settings.json`, `projects/…/x.jsonl`."""
    return ".claude.json" if key == CLAUDE_JSON else key[len(CONFIG) + 1:]


def must_parse(key: str) -> bool:
    """Config files Claude Code can't start without reading: `.claude.json` and the config dir's top-level
    JSON (settings, credentials, keybindings …). A backup where one of them does not parse is not good."""
    return key == CLAUDE_JSON or (key.startswith(CONFIG + "/") and key.count("/") == 1 and key.endswith(".json"))


def link_stays_inside(key: str, target: str) -> bool:
    """A link that can only point down from where it is: relative, with no `..` (nor `.` or empty) parts.
    A `..` could climb through another link, or out of a config dir not named `config`; such links are
    left out of backups and refused in them."""
    return bool(target) and "\0" not in target and not target.startswith("/") \
        and all(part not in ("", ".", "..") for part in target.split("/"))


class Roots:
    """Claude's state as open directories, for backups to read and restores to write.

    The config dir and the directory holding `.claude.json` are resolved once (either may be the user's own
    link), and so is each top-level link of the config dir: a dotfiles-managed settings.json or skills/ is
    followed, as config sync does. The config dir's top level is the user's: a session's container has its
    directories mounted and its files staged, and can't add an entry there. Below these roots it can, so
    nothing is followed there (beneath.py). With `create`, missing roots are made (a restore)."""

    def __init__(self, claude: ClaudeHome, create: bool = False):
        self.claude = claude
        self.create = create
        self.config_real = os.path.realpath(claude.config_dir)
        self.fds: dict[str, int] = {}  # real path: descriptor
        self._links: dict[str, str | None] = {}  # top-level name: its real path, if a link
        self._missing: set[str] = set()

    def __enter__(self) -> Roots:
        return self

    def __exit__(self, *_exc) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def dir(self, real: str) -> int:
        fd = self.fds.get(real)
        if fd is None:
            if real in self._missing:  # looked for already (a restore's plan asks once per file)
                raise FileNotFoundError(errno.ENOENT, "missing", real)
            if self.create:
                os.makedirs(real, 0o700, exist_ok=True)
            try:
                fd = self.fds[real] = beneath.open_dir(real)
            except FileNotFoundError:
                if not self.create:
                    self._missing.add(real)
                raise
        return fd

    def config(self) -> int:
        """The config dir's descriptor; FileNotFoundError if it is missing (and not to be made)."""
        return self.dir(self.config_real)

    def linked(self, name: str) -> str | None:
        """Where a top-level entry of the config dir leads, if it is a link."""
        if name not in self._links:
            try:
                is_link = stat.S_ISLNK(os.stat(name, dir_fd=self.config(), follow_symlinks=False).st_mode)
            except FileNotFoundError:
                is_link = False
            self._links[name] = os.path.realpath(os.path.join(self.config_real, name)) if is_link else None
        return self._links[name]

    def locate(self, key: str) -> tuple[int, str]:
        """(the descriptor of a root, the path of `key` beneath it: "" for the root itself)."""
        if key == CLAUDE_JSON:
            return self._followed(os.path.realpath(self.claude.claude_json))
        if key == CONFIG:
            return self.config(), ""
        rel = key[len(CONFIG) + 1:]
        top, _, rest = rel.partition("/")
        real = self.linked(top)
        if real is None:
            return self.config(), rel
        return (self.dir(real), rest) if rest else self._followed(real)

    def _followed(self, real: str) -> tuple[int, str]:
        folder, name = os.path.split(real)
        return self.dir(folder), name

    def path(self, root: int, rel: str) -> str:
        """A root and a path beneath it as a host path, for messages."""
        real = next((r for r, fd in self.fds.items() if fd == root), "?")
        return os.path.join(real, rel) if rel else real

    @contextmanager
    def at(self, root: int) -> Iterator[None]:
        """Work beneath `root`: a beneath.Escape raised names its host path."""
        try:
            yield
        except beneath.Escape as exc:
            exc.filename = self.path(root, exc.filename)
            raise


def left_out(key: str, exc: OSError) -> str:
    """The manifest's line for something a backup could not take."""
    if isinstance(exc, beneath.Escape):
        return f"{key}: a link or a non-directory took a place in its path while it was read (not followed)"
    if isinstance(exc, beneath.NotRegular):
        return f"{key}: not a regular file"
    return f"{key}: unreadable ({exc.strerror})"


def _top_file(roots: Roots, key: str) -> Item | None:
    try:
        root, rel = roots.locate(key)
        st = os.stat(rel, dir_fd=root, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return Item(key, "file", root, rel, st, None) if stat.S_ISREG(st.st_mode) else None


def walk(roots: Roots, scope: str, exclude: tuple[Path, ...] = ()) -> tuple[list[Item], list[str]]:
    """(what to back up, what was left out and why). Top-level entries are followed when they are links
    (a dotfiles-managed settings.json or skills/ is backed up for its content), as config sync does. The
    items' roots stay open as long as `roots` is."""
    claude = roots.claude
    items: list[Item] = []
    skipped: list[str] = []
    found = _top_file(roots, CLAUDE_JSON)
    if found:
        items.append(found)
    try:
        config = roots.config()
    except FileNotFoundError:
        return items, skipped
    excluded = set()
    for path in exclude:
        try:
            st = os.stat(path)
        except OSError:
            continue
        excluded.add((st.st_dev, st.st_ino))
    items.append(Item(CONFIG, "dir", config, "", os.fstat(config), None))
    for name in sorted(os.listdir(config)):
        key = f"{CONFIG}/{name}"
        if name in PER_PROCESS_DIRS or is_transient(name) or (claude.custom and name == ".claude.json"):
            continue
        try:
            root, rel = roots.locate(key)
            st = os.stat(rel, dir_fd=root, follow_symlinks=False)
        except FileNotFoundError:
            if roots.linked(name):  # a link to nothing; else it was removed since the listing
                skipped.append(f"{key}: not a regular file or directory")
            continue
        if stat.S_ISDIR(st.st_mode):
            if scope == "full":
                _walk_dir(key, root, rel, items, skipped, excluded)
        elif stat.S_ISREG(st.st_mode):
            items.append(Item(key, "file", root, rel, st, None))
        else:
            skipped.append(f"{key}: not a regular file or directory")
    return items, skipped


def _walk_dir(key: str, root: int, rel: str, items: list[Item], skipped: list[str], excluded: set) -> None:
    try:
        top = beneath.open_beneath(root, rel, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return
    except OSError as exc:
        skipped.append(left_out(key, exc))
        return
    try:
        st = os.fstat(top)
        if (st.st_dev, st.st_ino) in excluded:
            return
        items.append(Item(key, "dir", root, rel, st, None))

        def include(sub: str, st: os.stat_result) -> bool:
            return not is_transient(sub.rpartition("/")[2]) and not (
                stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) in excluded)

        def onerror(sub: str, exc: OSError) -> None:
            skipped.append(left_out(f"{key}/{sub}", exc))

        for sub, est, kind in beneath.walk(top, include, onerror):
            ekey, erel = f"{key}/{sub}", f"{rel}/{sub}" if rel else sub
            if kind == "link":
                try:
                    target = beneath.readlink(top, sub)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    skipped.append(left_out(ekey, exc))
                    continue
                if link_stays_inside(ekey, target):
                    items.append(Item(ekey, "link", root, erel, est, target))
                else:
                    skipped.append(f"{ekey}: a link that may point outside the config dir ({target})")
            elif kind == "other":
                skipped.append(f"{ekey}: not a regular file, directory or link")
            else:
                items.append(Item(ekey, kind, root, erel, est, None))
    finally:
        os.close(top)
