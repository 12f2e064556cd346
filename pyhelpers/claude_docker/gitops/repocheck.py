"""`gitops check`: a team repository's working tree as a pre-commit hook sees it. The layout is valid (the
same reader reconcile uses, over the files on disk), and no secret is in plaintext: the SOPS file is encrypted,
so is every JSON file a `.sops.yaml` creation rule covers, and no secret-looking value sits in the plaintext
files. Without an age key here the SOPS file's contents are not checked (said), the rest is."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

from claude_docker.errors import ToolError

SOPS_FILE = "claude/claude.sops.json"
PLAIN_FILES = ("claude/claude.json", "claude/settings.json")
MAX_FILES = 5000


class _Entry(NamedTuple):
    path: str
    mode: str
    oid: str
    size: int


def _walk(top: Path) -> list[_Entry]:
    """The working tree's files as git would list them (links and all), `.git` left out."""
    found: list[_Entry] = []
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != ".git" and not os.path.islink(os.path.join(root, d)))
        links = [d for d in os.listdir(root) if os.path.islink(os.path.join(root, d))]
        for name in sorted(set(files) | set(links)):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, top).replace(os.sep, "/")
            st = os.lstat(full)
            mode = "120000" if stat.S_ISLNK(st.st_mode) else ("100755" if st.st_mode & 0o111 else "100644")
            found.append(_Entry(rel, mode, rel, st.st_size))
            if len(found) > MAX_FILES:
                return found
    return found


def check(directory: Path) -> tuple[list[str], list[str]]:
    """(problems, notes)."""
    from claude_docker.gitops import layout, sops

    top = _top(directory)
    entries = _walk(top)
    problems: list[str] = []
    notes: list[str] = []

    def read(oids: list[str]) -> dict[str, bytes]:
        return {o: (top / o).read_bytes() for o in oids}

    def decrypt(raw: bytes) -> dict:
        try:
            return sops.decrypt(raw)
        except ToolError as exc:
            if _no_key():
                notes.append(f"{SOPS_FILE}: no age key here, its contents were not checked ({exc.message})")
                return {}
            raise

    try:
        layout.read(entries, read, decrypt)
    except layout.LayoutError as exc:
        problems.extend(exc.problems)
    except ToolError as exc:
        problems.append(exc.message)
    for rel in PLAIN_FILES:
        problems.extend(_secrets_in(top, rel))
    problems.extend(_unencrypted_by_rules(top, entries))
    return problems, notes


def _top(directory: Path) -> Path:
    """The repository's top level (git's), else the directory itself."""
    import subprocess

    try:
        done = subprocess.run(["git", "-C", str(directory), "rev-parse", "--show-toplevel"], capture_output=True,
                              text=True, timeout=30, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except (OSError, subprocess.TimeoutExpired):
        return directory.resolve()
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else directory.resolve()


def _no_key() -> bool:
    from claude_docker.gitops import agekeys

    try:
        return not agekeys.identities()
    except ToolError:
        return True


def _secrets_in(top: Path, rel: str) -> list[str]:
    from claude_docker import claudejson
    from claude_docker.gitops import layout

    try:
        doc = claudejson.loads((top / rel).read_bytes())
    except (OSError, ValueError, RecursionError):
        return []  # absent, or refused by the layout check already
    if not isinstance(doc, dict):
        return []
    return [f"{rel}: {path} looks like a secret: move it to {SOPS_FILE} (`claude-docker gitops encrypt`)"
            for path in layout.secret_looking(doc)]


def _unencrypted_by_rules(top: Path, entries: list[_Entry]) -> list[str]:
    """JSON files a creation rule of the repository's `.sops.yaml` covers, found in plaintext."""
    import json

    from claude_docker.gitops import sops, sopsrules

    config = top / sopsrules.NAME
    if not config.is_file():
        return []
    rules = sopsrules.load(config)
    problems = []
    for entry in entries:
        if entry.mode == "120000" or not entry.path.endswith(".json") or entry.path == SOPS_FILE:
            continue
        rule = sopsrules.rule_for(top / entry.path, start=top, environ={}, missing_ok=True)
        if rule is None or not rules[rule.number - 1].get("path_regex"):
            continue  # (a rule without path_regex names no file in particular: not a claim that it is secret)
        try:
            doc = json.loads((top / entry.path).read_bytes())
        except (OSError, ValueError):
            continue
        if not sops.is_encrypted(doc):
            problems.append(f"{entry.path}: a .sops.yaml creation rule covers it, but it is not encrypted "
                            "(`claude-docker gitops encrypt --in-place`)")
    return problems
