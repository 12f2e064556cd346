"""`gitops check`: a team repository as a pre-commit hook sees it: what is staged (the index, read from git's
objects), or the files of a directory that is no repository. The layout is valid (the same reader reconcile
uses), and no secret is in plaintext: the SOPS file is encrypted and leaves no secret-looking value in clear,
every file a `.sops.yaml` creation rule covers is encrypted, and the plaintext files hold no secret-looking
value. Without an age key here the SOPS file's decrypted contents are not checked (said), the rest is."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import NamedTuple

from claude_docker.errors import ToolError

SOPS_FILE = "claude/claude.sops.json"
PLAIN_FILES = ("claude/claude.json", "claude/settings.json")
MAX_FILES = 5000
MAX_BYTES = 16 << 20  # a file the check reads whole (the layout refuses managed files over 1 MiB itself)


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
    """(problems, notes). In a git repository, what is staged (what the commit will hold), else the files."""
    from claude_docker.gitops import layout, sops

    problems: list[str] = []
    notes: list[str] = []
    top, entries, read = _tree(directory)

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
    wanted = [e for e in entries if e.mode != "120000" and e.mode != "160000"]
    blobs = read([e.oid for e in wanted if e.path in PLAIN_FILES or e.path == SOPS_FILE])
    for entry in wanted:
        if entry.oid in blobs:
            problems.extend(_secrets_in(entry.path, blobs[entry.oid]))
    try:
        problems.extend(_unencrypted_by_rules(top, wanted, read))
    except ToolError as exc:
        problems.append(exc.message)
    return problems, notes


def _tree(directory: Path):
    """(the top, its entries, a reader of their contents by oid): the index of a git repository, else a walk."""
    from claude_docker.gitops.source import Mirror

    top = _top(directory)
    git_dir = top / ".git"
    if git_dir.exists():
        index = Mirror(str(top), "main", Path(_git_dir(top)))
        return top, index.staged(), lambda oids: index.read(None, oids, MAX_BYTES)
    return top, _walk(top), lambda oids: {o: (top / o).read_bytes() for o in oids}


def _rev_parse(directory: Path, what: str) -> str | None:
    import subprocess

    try:
        done = subprocess.run(["git", "-C", str(directory), "rev-parse", what], capture_output=True,
                              text=True, timeout=30, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _top(directory: Path) -> Path:
    """The repository's top level (git's), else the directory itself."""
    found = _rev_parse(directory, "--show-toplevel")
    return Path(found) if found else directory.resolve()


def _git_dir(top: Path) -> str:
    return os.path.join(top, _rev_parse(top, "--git-dir") or ".git")


def _no_key() -> bool:
    from claude_docker.gitops import agekeys

    try:
        return not agekeys.identities()
    except ToolError:
        return True


def _secrets_in(rel: str, raw: bytes) -> list[str]:
    """Secret-looking values in plaintext: anywhere in the plain files, and in the SOPS file every value left
    unencrypted (its rule, an `encrypted_regex` say, may leave a token out)."""
    from claude_docker import claudejson
    from claude_docker.gitops import layout

    try:
        doc = claudejson.loads(raw)
    except (ValueError, RecursionError):
        return []  # refused by the layout check already
    if not isinstance(doc, dict):
        return []
    if rel == SOPS_FILE:
        doc.pop("sops", None)
    fix = "encrypt it (check the file's encrypt rule)" if rel == SOPS_FILE else \
        f"move it to {SOPS_FILE} (`claude-docker gitops encrypt`)"
    clear = _clear(doc)
    assert isinstance(clear, dict)
    return [f"{rel}: {path} looks like a secret in plaintext: {fix}" for path in layout.secret_looking(clear)]


def _clear(value: object) -> object:
    """`value` without its encrypted leaves (ENC[...] strings become empty: nothing to flag there)."""
    if isinstance(value, dict):
        return {k: _clear(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clear(v) for v in value]
    return "" if isinstance(value, str) and value.startswith("ENC[AES256_GCM,") else value


def _unencrypted_by_rules(top: Path, entries: list, read) -> list[str]:
    """Files a creation rule of the repository's `.sops.yaml` covers (by its path_regex), found without sops'
    metadata: in JSON, a `sops` object; in other formats, sops' encrypted values and its metadata."""
    import json

    from claude_docker.gitops import sops, sopsrules

    config = top / sopsrules.NAME
    if not config.is_file():
        return []
    rules = sopsrules.load(config)
    covered = []
    for entry in entries:
        if entry.path == SOPS_FILE:
            continue
        rule = sopsrules.rule_for(top / entry.path, start=top, environ={}, missing_ok=True)
        if rule is not None and rules[rule.number - 1].get("path_regex"):
            covered.append(entry)  # (a rule without path_regex names no file: not a claim that one is secret)
    blobs = read([e.oid for e in covered])
    problems = []
    for entry in covered:
        raw = blobs[entry.oid]
        try:
            encrypted = sops.is_encrypted(json.loads(raw))
        except (ValueError, RecursionError):
            encrypted = b"ENC[AES256_GCM," in raw and b"sops" in raw
        if not encrypted:
            problems.append(f"{entry.path}: a .sops.yaml creation rule covers it, but it is not encrypted "
                            "(`claude-docker gitops encrypt --in-place`)")
    return problems
