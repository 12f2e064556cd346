"""What this workstation follows: the source, its branch, who may sign host commands, self-heal and prune, the
loop's timing. One file, `<state>/gitops/settings.json`, written by `gitops init` (through the safe-write path)
and read by every gitops command; no environment variable changes it, so the loop run as a service and the user
at the terminal see the same settings."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.paths import ensure_private_dir, state_dir

DEFAULTS: dict = {
    "source": None, "branch": "main", "allowed_signers": None, "gpg_fingerprints": [], "trust_unsigned": False,
    "self_heal": False, "prune": False, "smoke": True,
    # Flux's minimum and Argo's jitter: a minute apart at least, never in step across a team's machines.
    "interval": 60.0, "retry": 30.0, "max_backoff": 3600.0, "jitter": 0.2,
}
# What changes the result of an apply: a new value of one of these earns a new attempt at the same revision.
APPLY_KEYS = ("source", "branch", "allowed_signers", "gpg_fingerprints", "trust_unsigned", "self_heal", "prune",
              "smoke")


def gitops_dir() -> Path:
    return ensure_private_dir(state_dir() / "gitops")


def settings_file() -> Path:
    return state_dir() / "gitops" / "settings.json"


def load() -> dict:
    """The settings; ToolError(GITOPS_SOURCE) with the command to run when none were made."""
    path = settings_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ToolError("no GitOps source is set up", exitcodes.GITOPS_SOURCE,
                        "run `claude-docker gitops init SOURCE` (a Git URL or path)") from None
    except OSError as exc:
        from claude_docker.errors import describe

        raise ToolError(f"cannot read the GitOps settings: {describe(exc, path)}", exitcodes.GITOPS_SOURCE) from None
    try:
        found = json.loads(raw)
    except ValueError:
        found = None
    problem = _invalid(found)
    if problem:
        raise ToolError(f"the GitOps settings {path} are damaged ({problem})", exitcodes.GITOPS_SOURCE,
                        "run `claude-docker gitops init SOURCE` again")
    return {**DEFAULTS, **found}


def _invalid(found) -> str | None:
    if not isinstance(found, dict):
        return "not a JSON object"
    if not isinstance(found.get("source"), str) or not found["source"]:
        return "no source"
    if not isinstance(found.get("branch", "main"), str):
        return "branch"
    for key in ("trust_unsigned", "self_heal", "prune", "smoke"):
        if not isinstance(found.get(key, False), bool):
            return key
    for key in ("interval", "retry", "max_backoff", "jitter"):
        value = found.get(key, 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 365 * 86400:
            return key
    signers = found.get("allowed_signers")
    if signers is not None and not isinstance(signers, str):
        return "allowed_signers"
    fprs = found.get("gpg_fingerprints", [])
    if not isinstance(fprs, list) or not all(isinstance(f, str) for f in fprs):
        return "gpg_fingerprints"
    return None


def save(values: dict) -> dict:
    from claude_docker.fsio import write_atomic

    merged = {**DEFAULTS, **values}
    problem = _invalid(merged)
    if problem:
        raise ToolError(f"GitOps setting refused: {problem}", exitcodes.USAGE)
    gitops_dir()
    write_atomic(settings_file(), (json.dumps(merged, indent=2) + "\n").encode(), mode=0o600)
    return merged


def mirror(values: dict):
    """The source's bare mirror in the state dir."""
    from claude_docker.gitops.source import Mirror

    return Mirror(values["source"], values["branch"], gitops_dir() / "source.git")


def normalize_source(source: str) -> str:
    """A local path made absolute (the loop runs from anywhere); URLs as given."""
    if "://" in source or (":" in source.split("/", 1)[0] and not os.path.exists(source)):
        return source  # a URL, or scp-like `host:path`
    return os.path.abspath(os.path.expanduser(source))


def fingerprint(values: dict) -> str:
    """The settings that shape an apply, hashed: the record names it, so one attempt per (revision, settings)."""
    chosen = {k: values.get(k) for k in APPLY_KEYS}
    return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:16]
