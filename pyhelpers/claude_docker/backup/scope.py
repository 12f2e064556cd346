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
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple
from pathlib import Path

from claude_docker.configsync import EPHEMERAL, is_transient
from claude_docker.paths import ClaudeHome

CLAUDE_JSON = "claude.json"
CONFIG = "config"
SCOPES = ("full", "config")

# (key, host path, lstat result) of a regular file; dirs and links carry no host read.
Item = namedtuple("Item", "key kind path st target")


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


def _file_item(key: str, path: Path, follow: bool) -> Item | None:
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return None
    return Item(key, "file", path, st, None) if stat.S_ISREG(st.st_mode) else None


def walk(claude: ClaudeHome, scope: str, exclude: tuple[Path, ...] = ()) -> tuple[list[Item], list[str]]:
    """(what to back up, what was left out and why). Top-level entries are followed when they are links
    (a dotfiles-managed settings.json or skills/ is backed up for its content), as config sync does."""
    items: list[Item] = []
    skipped: list[str] = []
    found = _file_item(CLAUDE_JSON, claude.claude_json, follow=True)
    if found:
        items.append(found)
    root = Path(os.path.realpath(claude.config_dir))
    excluded = {os.path.realpath(p) for p in exclude}
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        return items, skipped
    items.append(Item(CONFIG, "dir", root, os.stat(root), None))
    for entry in top:
        name, key = entry.name, f"{CONFIG}/{entry.name}"
        if name in EPHEMERAL or is_transient(name) or (claude.custom and name == ".claude.json"):
            continue
        if entry.is_dir():
            if scope == "full":
                _walk_dir(key, Path(entry.path), items, skipped, excluded)
        elif entry.is_file():
            found = _file_item(key, Path(entry.path), follow=True)
            if found:
                items.append(found)
        else:
            skipped.append(f"{key}: not a regular file or directory")
    return items, skipped


def _walk_dir(key: str, path: Path, items: list[Item], skipped: list[str], excluded: set[str]) -> None:
    real = os.path.realpath(path)
    if real in excluded:
        return
    items.append(Item(key, "dir", path, os.stat(path), None))
    stack = [(key, real)]
    while stack:
        dkey, dpath = stack.pop()
        try:
            entries = sorted(os.scandir(dpath), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(f"{dkey}: unreadable ({exc.strerror})")
            continue
        for entry in entries:
            ekey = f"{dkey}/{entry.name}"
            if is_transient(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                items.append(Item(ekey, "file", Path(entry.path), st, None))
            elif stat.S_ISDIR(st.st_mode):
                if entry.path in excluded:
                    continue
                items.append(Item(ekey, "dir", Path(entry.path), st, None))
                stack.append((ekey, entry.path))
            elif stat.S_ISLNK(st.st_mode):
                target = os.readlink(entry.path)
                if link_stays_inside(ekey, target):
                    items.append(Item(ekey, "link", Path(entry.path), st, target))
                else:
                    skipped.append(f"{ekey}: a link that may point outside the config dir ({target})")
            else:
                skipped.append(f"{ekey}: not a regular file, directory or link")
