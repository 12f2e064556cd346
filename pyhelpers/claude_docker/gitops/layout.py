"""The team repository's layout: which of its files become which parts of Claude's config (docs/GITOPS.md).

    claude/settings.json       -> <config>/settings.json, key by key (the keys the repository declares)
    claude/CLAUDE.md           -> <config>/CLAUDE.md, whole
    claude/{agents,commands,skills,output-styles}/** -> the same under <config>/, each file whole
    claude/claude.json         -> keys of ~/.claude.json (no secrets: `gitops check` refuses them)
    claude/claude.sops.json    -> the same, SOPS-encrypted (MCP servers with their tokens)
    rollout.json               -> the rollout plan (image and plan values)

Anything else under claude/ is refused by name (a misplaced file would silently do nothing); other files of
the repository are its own business. A revision is read whole before anything is applied, and refused with
every problem found: links, submodules, names that could escape the config dir, sizes, JSON Claude Code
could not read, shapes it would misread, keys that belong to one machine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from claude_docker import exitcodes, redact
from claude_docker.boundary import policy
from claude_docker.errors import ToolError
from claude_docker.gitops import shape

ROOT = "claude"
SETTINGS, CLAUDE_JSON = "settings.json", ".claude.json"
KEYED = {"claude/settings.json": SETTINGS, "claude/claude.json": CLAUDE_JSON}
SECRETS = "claude/claude.sops.json"
WHOLE = {"claude/CLAUDE.md": "CLAUDE.md"}
DIRS = ("agents", "commands", "skills", "output-styles")
ROLLOUT = "rollout.json"
JSON_DOCS = (*KEYED, SECRETS, ROLLOUT)  # parsed; every other file is copied as it is
FILE_MODES = ("100644", "100755")
MAX_FILE = 1 << 20
MAX_DEPTH = 64  # JSON nesting: a settings file has 5 or so
MAX_FILES = 2000
TEXT_SUFFIXES = (".md", ".json")  # read by Claude Code as text; other files (a skill's assets) are bytes

# Objects whose entries the repository owns one by one; every other top-level key is owned whole.
PER_ENTRY = {SETTINGS: frozenset({"permissions", "env", "hooks", "enabledPlugins", "extraKnownMarketplaces"}),
             CLAUDE_JSON: frozenset({"mcpServers", "env"})}
# Keys of ~/.claude.json that belong to one machine or one login, which a team's repository can't own (and
# caches, policy.CACHE, which each machine refetches).
PER_MACHINE = {
    "projects": "per-project state, keyed by one machine's paths",
    **dict.fromkeys(("oauthAccount", "primaryApiKey", "customApiKeyResponses", "userID"),
                    "the login and identity of one machine"),
    **dict.fromkeys(("machineID", "firstStartTime", "migrationVersion", "numStartups", "tipsHistory"),
                    "written by Claude Code itself on each machine"),
    **dict.fromkeys(policy.GLOBAL_DROPPED, "how each machine's Claude Code is installed and updated"),
    **policy.GLOBAL_REFUSED,
}


class TreeEntry(Protocol):
    """What layout reads of a tree entry (source.Entry has these)."""

    @property
    def path(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def oid(self) -> str: ...
    @property
    def size(self) -> int: ...


class LayoutError(ToolError):
    """A revision refused: the first problem in the message, every one in `problems`."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more, exitcodes.GITOPS_INVALID)


class Desired(NamedTuple):
    """What a revision says Claude's config should hold."""

    files: dict[str, bytes]  # config-dir-relative path -> content
    keyed: dict[str, dict[tuple, object]]  # "settings.json", ".claude.json" -> owned path -> value
    secret: frozenset  # (target, owned path) whose value came from the SOPS file
    rollout: dict | None  # {"image": str, "plan": rollout.plan.make(...)}
    paths: tuple[str, ...]  # the repository paths read


def owned(target: str, doc: dict) -> dict[tuple, object]:
    """The owned paths of a keyed document and their values: top-level keys whole, except the entries of
    PER_ENTRY objects one by one (the user's own hooks, variables and servers stay theirs)."""
    result: dict[tuple, object] = {}
    for key, value in doc.items():
        if key in PER_ENTRY[target] and isinstance(value, dict):
            result.update({(key, name): inner for name, inner in value.items()})
        else:
            result[(key,)] = value
    return result


# Keys named like secrets whose values are commands that fetch one, not the secret.
_COMMANDS = frozenset({"apiKeyHelper", "awsCredentialExport", "awsAuthRefresh", "gcpAuthRefresh", "otelHeadersHelper",
                       "proxyAuthHelper", "headersHelper"})
_REFERENCE = re.compile(r"\$\{\w+\}")


def _harmless(value: str) -> bool:
    """A value that can't be a secret however its key is named: a flag, a number, a `${VAR}` reference."""
    return value.isdigit() or value.lower() in ("true", "false") or _REFERENCE.fullmatch(value) is not None


def secret_looking(doc: dict) -> list[str]:
    """Key paths (`mcpServers.github.env.GITHUB_TOKEN`) holding what looks like a secret: a non-empty string
    under a secret-looking name, or a URL with credentials. What `gitops check` refuses in plaintext files."""
    found: list[str] = []

    def walk(value: object, where: str, name: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{where}.{key}" if where else str(key), str(key))
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(inner, f"{where}[{i}]", name)
        elif isinstance(value, str) and value:
            named = redact.is_secret_name(name) and name not in _COMMANDS and not _harmless(value)
            if named or redact.text(value) != value:
                found.append(redact.printable(where))

    walk(doc, "", "")
    return found


def _name_problem(path: str) -> str | None:
    """Why a repository path can't name a file in the config dir, or None."""
    if path.startswith("/"):
        return "an absolute path"
    parts = path.split("/")
    if "" in parts or "." in parts or ".." in parts:
        return "an empty, '.' or '..' name part"
    if "\\" in path:
        return "a backslash in its name"
    if not path.isprintable():
        return "a control character in its name"
    return None


def _known(path: str) -> bool:
    """Is this path below claude/ part of the layout?"""
    if path in JSON_DOCS or path in WHOLE:
        return True
    top, _, rest = path[len(ROOT) + 1:].partition("/")
    return top in DIRS and rest != ""


def _config_path(path: str) -> str:
    """Where a whole file of the layout lands, relative to the config dir."""
    return WHOLE.get(path, path[len(ROOT) + 1:])


def _entry_problem(entry: TreeEntry) -> str | None:
    why = _name_problem(entry.path)
    if why:
        return why
    if entry.mode == "120000":
        return "a symbolic link (the repository must hold the file itself)"
    if entry.mode == "160000":
        return "a submodule"
    if entry.mode not in FILE_MODES:
        return f"a tree entry of mode {entry.mode}, not a file"
    if entry.path == ROOT:
        return f"a file where the {ROOT}/ folder belongs"
    if not _known(entry.path):
        return (f"not part of the layout ({ROOT}/ holds {', '.join(p.partition('/')[2] for p in (*KEYED, SECRETS))},"
                f" CLAUDE.md and {', '.join(d + '/' for d in DIRS)})")
    if entry.size > MAX_FILE:
        return f"{entry.size} bytes, over the {MAX_FILE >> 20} MiB limit"
    return None


def _ours(path: str) -> bool:
    return path in (ROLLOUT, ROOT) or path.startswith(ROOT + "/")


def read(entries: Sequence[TreeEntry], read: Callable[[list[str]], dict[str, bytes]],
         decrypt: Callable[[bytes], dict]) -> Desired:
    """The desired config of a revision from its tree `entries` (path, mode, oid, size), `read(oids)` (the
    blobs) and `decrypt` (raw SOPS bytes -> the plaintext document). LayoutError with every problem found;
    the SOPS file is decrypted only once the rest is valid (a decryption failure is the caller's error)."""
    ours = sorted((e for e in entries if _ours(e.path)), key=lambda e: e.path)
    if len(ours) > MAX_FILES:
        raise LayoutError([f"{len(ours)} files under {ROOT}/: at most {MAX_FILES}"])
    problems: list[str] = []
    wanted = []
    for entry in ours:
        why = _entry_problem(entry)
        if why:
            problems.append(f"{redact.printable(entry.path)}: {why}")
        else:
            wanted.append(entry)
    problems += _case_twins(wanted)
    blobs = read(sorted({e.oid for e in wanted})) if wanted else {}
    docs: dict[str, dict] = {}
    files: dict[str, bytes] = {}
    for entry in wanted:
        raw = blobs[entry.oid]
        doc, why = _parse(entry.path, raw)
        if why:
            problems.append(f"{entry.path}: {why}")
        elif doc is not None:
            docs[entry.path] = doc
        else:
            files[_config_path(entry.path)] = raw
    keyed: dict[str, dict[tuple, object]] = {SETTINGS: {}, CLAUDE_JSON: {}}
    for path, target in KEYED.items():
        if path in docs:
            problems += _keyed_problems(path, target, docs[path])
            keyed[target] = owned(target, docs[path])
    if SECRETS in docs and not isinstance(docs[SECRETS].get("sops"), dict):
        problems.append(f"{SECRETS}: in plaintext (no sops metadata): encrypt it before committing it")
    plan = None
    if ROLLOUT in docs:
        try:
            plan = shape.rollout(docs[ROLLOUT])
        except LayoutError as exc:
            problems += exc.problems
    if problems:
        raise LayoutError(problems)
    secret: frozenset = frozenset()
    if SECRETS in docs:
        secrets = decrypt(blobs[_oid(wanted, SECRETS)])
        if _too_deep(secrets):
            raise LayoutError([f"{SECRETS}: nested deeper than {MAX_DEPTH} levels"])
        secret = _merge_secrets(secrets, keyed[CLAUDE_JSON])
    return Desired(files, keyed, secret, plan, tuple(e.path for e in wanted))


def _oid(entries: list, path: str) -> str:
    return next(e.oid for e in entries if e.path == path)


def _case_twins(entries: list) -> list[str]:
    """Files whose paths differ only in case: one file on a case-insensitive disk (macOS)."""
    seen: dict[str, str] = {}
    found = []
    for entry in entries:
        folded = entry.path.casefold()
        if folded in seen:
            found.append(f"{redact.printable(entry.path)}: the same file as {redact.printable(seen[folded])} on a "
                         "disk that ignores case")
        seen.setdefault(folded, entry.path)
    return found


def _parse(path: str, raw: bytes) -> tuple[dict | None, str | None]:
    """(the JSON document or None for other files, the problem or None)."""
    from claude_docker import claudejson

    if path.endswith(TEXT_SUFFIXES) and not claudejson.is_utf8(raw):
        return None, "not UTF-8 text"
    if path not in JSON_DOCS:
        return None, None
    try:
        doc = claudejson.loads(raw)
    except (ValueError, RecursionError) as exc:
        return None, f"not JSON Claude Code can read ({str(exc).splitlines()[0] if str(exc) else 'empty'})"
    if not isinstance(doc, dict):
        return None, "must be a JSON object"
    if _too_deep(doc):
        return None, f"nested deeper than {MAX_DEPTH} levels"
    return doc, None


def _too_deep(doc: object) -> bool:
    """Deeper than any config Claude Code has (and than copying, hashing and writing it can go)."""
    level = [doc]
    for _ in range(MAX_DEPTH):
        level = [v for node in level for v in (node.values() if isinstance(node, dict) else
                                               node if isinstance(node, list) else ())]
        if not level:
            return False
    return True


def _keyed_problems(path: str, target: str, doc: dict) -> list[str]:
    if target == SETTINGS:
        found = shape.settings_problems(doc)
    else:
        found = [f"{key} can't come from a repository: {PER_MACHINE[key]}" for key in doc if key in PER_MACHINE]
        found += [f"{key} can't come from a repository: a cache Claude Code refetches on each machine"
                  for key in doc if key not in PER_MACHINE and policy.CACHE.search(key)]
        found += shape.claude_json_problems(doc)
    return [f"{path}: {redact.printable(problem)}" for problem in found]


def _merge_secrets(plain: dict, claude_json: dict[tuple, object]) -> frozenset:
    """The decrypted SOPS document's keys added to those for ~/.claude.json: the set of (target, path) that
    are secret. LayoutError if a key is refused, or declared in claude.json too."""
    problems = _keyed_problems(SECRETS, CLAUDE_JSON, plain)
    secret = owned(CLAUDE_JSON, plain)
    problems += [f"{SECRETS}: {redact.printable('.'.join(map(str, path)))} is declared in claude/claude.json too"
                 for path in secret if path in claude_json]
    if problems:
        raise LayoutError(problems)
    claude_json.update(secret)
    return frozenset((CLAUDE_JSON, path) for path in secret)
