"""What the last reconcile left: per managed item, the digest of the repository's value and of the value last
applied to the host; the revision and settings it ran with; the last attempt and its failures (for one attempt
per (revision, settings), and the retry backoff).

Digests, never values: the record, the audit trail and `--json` outputs name secrets (MCP tokens) by keyed
hashes only. The key is this workstation's (`<state>/gitops/digest.key`), so a hash of a short token can't be
looked up in a table made elsewhere.

An item is one owned JSON entry (`["settings.json", "permissions", "allow"]`) or one file
(`["file", "agents/reviewer.md"]`), keyed in the record by its JSON text."""

from __future__ import annotations

import hmac
import json
import os
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.gitops.settings import gitops_dir

FILE = "file"
KEY_FILE = "digest.key"


def item_id(target: str, path: tuple) -> str:
    return json.dumps([target, *path], ensure_ascii=False)


def parse_id(ident: str) -> tuple[str, tuple]:
    parts = json.loads(ident)
    return parts[0], tuple(parts[1:])


def describe(ident: str) -> str:
    """`settings.json: permissions.allow`, `agents/reviewer.md`, `.claude.json: mcpServers.github`."""
    target, path = parse_id(ident)
    return path[0] if target == FILE else f"{target}: {'.'.join(path)}"


def _key() -> bytes:
    path = gitops_dir() / KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    from claude_docker.fsio import write_atomic

    key = os.urandom(32)
    try:  # made once: a second process racing us keeps whichever landed first
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != 32:  # a damaged key: every digest changes once, which reads as drift, never as sync
            key = os.urandom(32)
            write_atomic(path, key, mode=0o600)
        return key
    with os.fdopen(fd, "wb") as out:
        out.write(key)
        out.flush()
        os.fsync(out.fileno())
    return key


class Digester:
    """Keyed hashes of files (their bytes) and of JSON values (audit.canonical: `1`, `1.0` and `true` differ)."""

    def __init__(self) -> None:
        self.key = _key()

    def of_bytes(self, data: bytes | None) -> str | None:
        if data is None:
            return None
        return "hmac-sha256:" + hmac.new(self.key, data, "sha256").hexdigest()[:32]

    def of_value(self, value: object) -> str:
        from claude_docker.gitops import audit

        return audit.digest(value, self.key)


def record_file() -> Path:
    return gitops_dir() / "record.json"


def empty() -> dict:
    return {"version": 1, "revision": None, "settings": None, "items": {}, "attempt": None, "rollout": None}


def load() -> dict:
    path = record_file()
    try:
        found = json.loads(path.read_bytes())
    except FileNotFoundError:
        return empty()
    except (OSError, ValueError) as exc:
        raise ToolError(f"the GitOps record {path} is damaged ({type(exc).__name__})", exitcodes.GITOPS_SOURCE,
                        f"remove it to start over (every managed item then reads as drift until applied): {path}"
                        ) from None
    if _invalid(found):
        raise ToolError(f"the GitOps record {path} is damaged", exitcodes.GITOPS_SOURCE,
                        f"remove it to start over: {path}")
    return {**empty(), **found}


def _invalid(found) -> bool:
    """Anything but what save() writes (a hand edit, a damaged disk): refused whole, never half read."""
    def digest(v) -> bool:
        return v is None or isinstance(v, str)

    if not isinstance(found, dict) or not isinstance(found.get("items"), dict):
        return True
    for ident, item in found["items"].items():
        if not isinstance(item, dict) or not digest(item.get("repo")) or not digest(item.get("applied")):
            return True
        try:
            target, path = parse_id(ident)
        except (ValueError, IndexError, TypeError):
            return True
        if not isinstance(target, str) or not path or not all(isinstance(k, str) for k in path):
            return True
    attempt = found.get("attempt")
    if attempt is not None and not (isinstance(attempt, dict) and isinstance(attempt.get("ok"), bool)
                                    and isinstance(attempt.get("failures", 0), int)
                                    and isinstance(attempt.get("next", 0), (int, float))):
        return True
    if not all(isinstance(found.get(k), (str, type(None))) for k in ("revision", "settings")):
        return True
    return not all(isinstance(found.get(k, []), list) for k in ("held", "held_ids", "drift"))


def save(record: dict) -> None:
    from claude_docker.fsio import write_atomic

    write_atomic(record_file(), json.dumps(record, indent=1, sort_keys=True).encode() + b"\n", mode=0o600)
