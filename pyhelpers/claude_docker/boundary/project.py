"""The project's self-running places for Claude Code: what in the bind-mounted project the host's Claude Code
would run or obey without asking (git's are boundary/git.py's).

* the project's `.claude/settings*.json` (hooks, env, permissions), `.mcp.json` (servers that
  start even in untrusted folders under `-p`), and `.claude/{commands,skills,agents,workflows,routines,hooks}`.
  These stay writable (the agent edits them on request) but are reviewed when the session ends, through the
  same policy as the user's own settings: settings keys that flow stay; everything else is put back as it
  was and kept for review (`claude-docker held`). The snapshot they are compared with is taken at the start.

Never through a link: every path below the project root is opened beneath it without following a link at
any component (beneath.py), and a link the session planted where one of these belongs is removed (and
listed) rather than followed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from claude_docker import beneath
from claude_docker.boundary import policy
from claude_docker.fsio import TooLarge, put_in_dir, read_capped

MAX_FILE = 1 << 20  # per guarded file: larger is no settings or command, and is put back whole
MAX_FILES = 2000  # per guarded directory, at the start (the review at the end lists them all)


class Link(str):
    """Something where a guarded file belongs that is not a plain one: a link (its target, never followed),
    a FIFO or device, or a file too large to be settings or commands."""


def _link(root_fd: int, exc: OSError) -> Link:
    """What stands where a guarded path should be, for the record: a link's target, or what it is."""
    try:
        return Link(beneath.readlink(root_fd, exc.filename))
    except OSError:
        return Link("(not a regular file or directory)")


def _absent(root_fd: int, rel: str) -> bool:
    """Nothing there by any path, links or not: the common case, told without the careful open (whose first
    use costs a ctypes import)."""
    return not os.path.lexists(f"/proc/self/fd/{root_fd}/{rel}")


def read(root_fd: int, rel: str) -> bytes | Link | None:
    """A guarded file's bytes; a Link if it, or a directory above it, is a link or not what it should be;
    None if absent."""
    if _absent(root_fd, rel):
        return None
    try:
        fd = beneath.open_regular(root_fd, rel)
    except FileNotFoundError:
        return None
    except beneath.NotRegular:
        return Link("(not a regular file)")
    except beneath.Escape as exc:
        return _link(root_fd, exc)
    except OSError as exc:  # unreadable (a mode the session set): it can't be vouched for, so it goes
        return Link(f"({exc.strerror.lower() if exc.strerror else 'unreadable'})")
    try:
        return read_capped(fd, MAX_FILE)  # by reading, not by size alone: the session may still be writing it
    except TooLarge:
        return Link(f"(larger than {MAX_FILE >> 20} MiB)")
    finally:
        os.close(fd)


def list_files(root_fd: int, rel_dir: str, limit: int | None = MAX_FILES) -> list[str] | Link | None:
    """The files, links and others below a guarded directory, relative to the project (more than `limit`
    stops the listing); None if it is absent."""
    if _absent(root_fd, rel_dir):
        return None
    try:
        d = beneath.open_beneath(root_fd, rel_dir, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return None
    except beneath.Escape as exc:
        return _link(root_fd, exc)
    found: list[str] = []
    try:
        for rel, _st, kind in beneath.walk(d):
            if kind != "dir":
                found.append(f"{rel_dir}/{rel}")
                if limit is not None and len(found) > limit:
                    break
    finally:
        os.close(d)
    return found


# Claude Code reads project settings from the folder it starts in, so every folder of the project that holds
# a `.claude/` or `.mcp.json` is guarded. Found by a walk that skips what is no place to start Claude Code in
# (dependencies, build output, VCS data) and stops at a budget (told to the user).
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".nox",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache", "target", "dist", "build", ".next", ".cache",
                       ".gradle", ".terraform", "vendor"})
MAX_DIRS = 20_000
REVIEW_MAX_DIRS = 200_000  # at the end a session may have added folders; past this the review says so
MARKERS = (".claude", ".mcp.json")


def guarded_roots(project: Path, budget: int = MAX_DIRS) -> tuple[list[str], bool]:
    """The folders (relative to the project, "" for itself) that hold a `.claude` or `.mcp.json`, and whether
    the walk saw the whole project (False: it stopped at `budget` folders). Never follows a link. It runs
    before every session, so it looks at each entry once, by its d_type, and stats nothing."""
    top = str(project)
    roots, pending, seen = [""], [top], 0
    while pending:
        path = pending.pop()
        seen += 1
        if seen > budget:
            return sorted(roots), False
        marked = False
        try:
            with os.scandir(path) as it:
                for entry in it:
                    marked = marked or entry.name in MARKERS
                    if entry.name not in SKIP_DIRS and entry.name != ".claude" and entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
        except OSError:
            continue
        if marked and path != top:
            roots.append(path[len(top) + 1:])
    return sorted(roots), True


def _under(root: str, rel: str) -> str:
    return f"{root}/{rel}" if root else rel


def tail(rel: str) -> str:
    """A guarded path without the folder it is in: `.claude/settings.json` for `pkg/.claude/settings.json`."""
    for marker in MARKERS:
        if rel == marker or rel.startswith(marker + "/"):
            return rel
        at = rel.rfind("/" + marker)
        if at >= 0 and (rel[at + 1:] == marker or rel[at + 1:].startswith(marker + "/")):
            return rel[at + 1:]
    return rel


def guarded_files(root_fd: int, roots: list[str], limit: int | None = MAX_FILES) -> list[str] | None:
    """Every guarded file that exists now below `roots` (None if a guarded directory holds more than `limit`)."""
    rels = []
    for root in roots:
        rels += [_under(root, r) for r in (*policy.PROJECT_SETTINGS, *policy.PROJECT_FILES)
                 if read(root_fd, _under(root, r)) is not None]
        for rel_dir in policy.PROJECT_DIRS:
            below = list_files(root_fd, _under(root, rel_dir), limit)
            if isinstance(below, Link):
                rels.append(_under(root, rel_dir))
            elif below:
                if limit is not None and len(below) > limit:
                    return None
                rels += below
    return rels


def snapshot(project: Path, base: Path) -> dict | None:
    """Copy what the guarded places hold now into `base`; the record review() compares with. None if the
    project can't be guarded (a guarded directory with more than MAX_FILES files: told to the user)."""
    roots, whole = guarded_roots(project)
    root_fd = os.open(project, os.O_RDONLY | os.O_DIRECTORY)
    try:
        rels = guarded_files(root_fd, roots)
        if rels is None:
            return None
        files, links, modes, resolved = [], {}, {}, {}
        for rel in rels:
            data = read(root_fd, rel)
            if isinstance(data, Link):
                links[rel] = str(data)
                resolved[rel] = os.path.relpath(os.path.realpath(project / rel), os.path.realpath(project))
                data = _behind_own_link(project, rel)  # the user's own link: what it leads to is compared too
            if data is not None:
                copy = base / rel
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(data)
                files.append(rel)
                modes[rel] = _mode(root_fd, rel)
    finally:
        os.close(root_fd)
    return {"root": str(project), "files": files, "links": links, "modes": modes, "roots": roots, "whole": whole,
            "resolved": resolved}


def _mode(root_fd: int, rel: str) -> int:
    try:
        fd = beneath.open_regular(root_fd, rel)
    except OSError:
        return 0o644
    try:
        return stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def _behind_own_link(project: Path, rel: str) -> bytes | None:
    """What a guarded path that is (or lies under) the user's own link holds, if that leads to a regular
    file inside the project: the session can change it through the link, so it is compared like any other."""
    real = Path(os.path.realpath(project / rel))
    root = Path(os.path.realpath(project))
    if root not in real.parents:
        return None
    try:
        return read_capped(real, MAX_FILE)
    except OSError:  # gone, not a regular file, or too large to be settings or commands
        return None


def _put_back(root_fd: int, rel: str, data: bytes | None, mode: int = 0o644) -> None:
    """Make `rel` hold `data` again (None: remove what the session created). A link found on the way is
    removed (the link only), never followed."""
    for _attempt in range(len(rel.split("/")) + 1):  # each round removes one link in the way
        try:
            d, name = beneath.parent_of(root_fd, rel, create=data is not None, mode=0o755)
        except FileNotFoundError:
            return  # nothing there to remove
        except beneath.Escape as exc:
            _remove_in_the_way(root_fd, exc.filename)
            continue
        try:
            put_in_dir(d, name, data, mode)
        finally:
            os.close(d)
        return


def _remove_in_the_way(root_fd: int, rel: str) -> None:
    """Remove the link (or file) a session put where a directory of a guarded path belongs."""
    parent, _, name = rel.rpartition("/")
    d = beneath.open_beneath(root_fd, parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if not stat.S_ISDIR(os.stat(name, dir_fd=d, follow_symlinks=False).st_mode):
            os.unlink(name, dir_fd=d)
    finally:
        os.close(d)


def review(record: dict, base: Path, held, ctx: policy.Context) -> list[dict]:
    """Put the guarded places back as the snapshot had them, except for settings keys that flow, and keep
    what the session changed for review in `held` (a HeldRecord). Returns the items held. Each file on its
    own: one that can't be handled is listed (refused) and the review goes on."""
    project = Path(record["root"])
    try:
        root_fd = os.open(project, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return []  # the project is gone: nothing of it can run
    items: list[dict] = []
    try:
        found, whole = guarded_roots(project, REVIEW_MAX_DIRS)
        if not whole:
            items.append(held.add_file(project, ".", f"(the project has more than {REVIEW_MAX_DIRS} folders)", None,
                                       policy.Verdict(policy.REFUSE, "not every folder's .claude/ was reviewed")))
        roots = sorted(set(found) | set(record.get("roots", [""])))
        now = guarded_files(root_fd, roots, limit=None) or []
        for rel in sorted(set(now) | set(record["files"]) | set(record["links"])):
            try:
                items += _review_one(root_fd, project, rel, record, base, held, ctx)
            except OSError as exc:
                verdict = policy.Verdict(policy.REFUSE, "check it by hand before you run Claude Code")
                items.append(held.add_file(project, rel, f"{rel} (could not be reviewed: {exc.strerror or exc})",
                                           None, verdict))
    finally:
        os.close(root_fd)
    return items


def _review_one(root_fd: int, project: Path, rel: str, record: dict, base: Path, held,
                ctx: policy.Context) -> list[dict]:
    before = (base / rel).read_bytes() if rel in record["files"] else None
    mode = record.get("modes", {}).get(rel, 0o644)
    current = read(root_fd, rel)
    if rel in record["links"]:
        return _review_own_link(root_fd, project, rel, record, current, before, held)
    if isinstance(current, Link):
        _put_back(root_fd, rel, before, mode)
        return [held.add_file(project, rel, f"{rel} ({current})", None, policy.Verdict(
            policy.REFUSE, "something other than a plain file where Claude Code reads code or settings"))]
    if current == before or (current is None and tail(rel) not in policy.PROJECT_SETTINGS):
        return []  # untouched, or code deleted (which runs nothing)
    if tail(rel) in policy.PROJECT_SETTINGS:
        # A deleted settings file is judged as an emptied one: its deny rules must not just vanish.
        return _review_settings(root_fd, project, rel, before, current or b"{}", held, ctx, mode)
    _put_back(root_fd, rel, before, mode)
    return [held.add_file(project, rel, rel, current,
                          policy.Verdict(policy.HOLD, policy.project_file_reason(tail(rel))))]


def _review_own_link(root_fd: int, project: Path, rel: str, record: dict, current, before: bytes | None,
                     held) -> list[dict]:
    """A guarded path that was the user's own link when the session began. Replaced, re-pointed, or now
    leading elsewhere, it can't be put back safely by us: it is reported (refused, so never applied) for the
    user to restore. Still leading to the same file inside the project, that file is compared and put back
    like any other (written beneath the project, through no link)."""
    target = record["links"][rel]
    real = os.path.relpath(os.path.realpath(project / rel), os.path.realpath(project))
    resolved = record.get("resolved", {}).get(rel)
    now = _behind_own_link(project, rel)
    if not isinstance(current, Link) or str(current) != target or (resolved and real != resolved) \
            or (before is not None and now is None):
        return [held.add_file(project, rel, f"{rel} (was your link to {target})", None, policy.Verdict(
            policy.REFUSE, "the session replaced or re-pointed your link: check and restore it by hand"))]
    if before is None or now == before:
        return []
    _put_back(root_fd, real, before, record.get("modes", {}).get(rel, 0o644))
    return [held.add_file(project, rel, f"{rel} (through your link)", now, policy.Verdict(
        policy.HOLD, policy.project_file_reason(tail(rel))))]


def _review_settings(root_fd: int, project: Path, rel: str, before: bytes | None, current: bytes, held,
                     ctx: policy.Context, mode: int) -> list[dict]:
    import json

    try:
        base_doc = json.loads(before) if before else {}
        doc = json.loads(current)
    except ValueError:
        base_doc = doc = None
    if not isinstance(doc, dict) or not isinstance(base_doc, dict):
        _put_back(root_fd, rel, before, mode)
        return [held.add_file(project, rel, rel, current,
                              policy.Verdict(policy.HOLD, "settings that are not a JSON object"))]
    allowed, held_keys = policy.filter_changes(policy.settings_change, base_doc, doc, doc, ctx)
    if not held_keys:
        return []
    _put_back(root_fd, rel, json.dumps(allowed, indent=2, ensure_ascii=False).encode() + b"\n"
              if allowed or before is not None else None, mode)
    return [held.add_key(project, rel, f"{rel}: {'.'.join(change.path)}", change.path, change.value, change.verdict)
            for change in held_keys]
