"""SOPS files on disk, as `gitops encrypt` uses them: encrypt a plaintext JSON file, re-key an encrypted one.

Recipients, when not given: SOPS_AGE_RECIPIENTS, else the file's `.sops.yaml` creation rule (whose encrypt
rule, `encrypted_regex` and the like, applies either way). The plaintext is only ever read: the ciphertext
replaces it atomically (in place) or goes to another file, so no copy of it is left anywhere.
"""

from __future__ import annotations

from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.gitops import agekeys, sops, sopsrules

MAX_FILE = 64 << 20  # a secrets file is kilobytes; this only stops a wrong path from filling memory


def _read(path: Path) -> bytes:
    from claude_docker.errors import describe
    from claude_docker.fsio import read_capped

    try:
        return read_capped(path, MAX_FILE, follow=True)
    except OSError as exc:
        raise sops.SopsError(f"cannot read {describe(exc, path)}") from None


def _write(path: Path, data: bytes) -> None:
    from claude_docker.errors import describe
    from claude_docker.fsio import write_atomic

    try:
        write_atomic(path, data)
    except OSError as exc:
        raise sops.SopsError(f"cannot write {describe(exc, path)}") from None


def default_output(path: Path) -> Path:
    """Where an encrypted copy goes by default: `x.json` -> `x.sops.json` (claude/claude.sops.json's name)."""
    return path.with_name(f"{path.stem}.sops{path.suffix or '.json'}")


def _usable(rule: sopsrules.Rule | None, path: Path) -> list[str]:
    """The rule's recipients, or one line saying why there are none to use."""
    if rule is None:
        raise sops.SopsError(f"no age recipients for {path}",
                             "pass them, set SOPS_AGE_RECIPIENTS, or add a creation rule to .sops.yaml")
    if rule.problem:
        raise sops.SopsError(rule.problem)
    return rule.recipients


def encrypt_file(path: Path, *, output: Path | None, recipients: list[str] | None, in_place: bool) -> Path:
    """Encrypt the JSON file `path` for age recipients; returns the file written (`path` itself with
    `in_place`, else `output`, else default_output(path)). Refuses a file that is encrypted already."""
    from claude_docker import claudejson

    if in_place and output is not None:
        raise ToolError("give an output file or in-place, not both", exitcodes.USAGE)
    try:
        doc = claudejson.loads(_read(path))
    except ValueError as exc:
        raise sops.SopsError(f"{path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise sops.SopsError(f"{path} holds a JSON {type(doc).__name__}; a SOPS file holds an object")
    if "sops" in doc:
        raise sops.SopsError(f"{path} is encrypted already (it has sops metadata)",
                             "to change who can read it, rotate it instead")
    recipients = recipients or agekeys.env_recipients()
    rule = sopsrules.rule_for(path, missing_ok=recipients is not None)
    if recipients is None:
        recipients = _usable(rule, path)
    target = path if in_place else output or default_output(path)
    _write(target, sops.encrypt(doc, recipients, rule.encryption if rule else None))
    return target


def rotate_file(path: Path, *, recipients: list[str] | None) -> None:
    """Re-key the SOPS file `path` in place: a new data key, every value re-encrypted, for `recipients`, else
    its `.sops.yaml` rule's, else the ones it has (needs a key that opens it)."""
    raw = _read(path)
    if recipients is None:
        rule = sopsrules.rule_for(path, missing_ok=True)
        recipients = _usable(rule, path) if rule else None
    _write(path, sops.rotate(raw, None, recipients))
