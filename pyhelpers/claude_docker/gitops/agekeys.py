"""Age keys where sops looks for them, pooled as sops pools them: every source that exists is read and its
identities added, none wins over another; a broken source is skipped and named only if nothing opens the
file (age/keysource.go, loadIdentities).

Sources, in sops' order: SSH private keys (SOPS_AGE_SSH_PRIVATE_KEY_FILE, the output of
SOPS_AGE_SSH_PRIVATE_KEY_CMD, ~/.ssh/id_ed25519, ~/.ssh/id_rsa), SOPS_AGE_KEY (keys separated by any
whitespace), SOPS_AGE_KEY_FILE, the output of SOPS_AGE_KEY_CMD (run once per recipient of the file, with
SOPS_AGE_RECIPIENT set, as sops runs it per stanza), and `<user config dir>/sops/age/keys.txt`, read even
when the others are set. Recipients to encrypt for: SOPS_AGE_RECIPIENTS, comma separated.

Messages name sources and line numbers, never key material.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

from claude_docker import envspec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

CMD_TIMEOUT = 60.0  # a key command may ask a password manager; it must not hang a reconcile forever


class Found(NamedTuple):
    identities: list  # pyrage identities, pooled from every source
    sources: list[str]  # where they came from, e.g. "SOPS_AGE_KEY_FILE (2 keys)"
    problems: list[str]  # sources that exist but failed, one line each


def split_recipients(text: str) -> list[str]:
    """A comma-separated recipient list (SOPS_AGE_RECIPIENTS, `--age`, a `.sops.yaml` string): items trimmed,
    empty ones dropped, so a trailing comma or a folded YAML block works."""
    return [item.strip() for item in text.split(",") if item.strip()]


def env_recipients(environ: Mapping[str, str] | None = None) -> list[str] | None:
    """SOPS_AGE_RECIPIENTS as a list; None when unset or empty."""
    found = split_recipients((os.environ if environ is None else environ).get("SOPS_AGE_RECIPIENTS", ""))
    return found or None


def recipient(text: str):
    """A pyrage recipient for an `age1…` X25519 key or an `ssh-ed25519`/`ssh-rsa` public key."""
    import pyrage

    from claude_docker.gitops.sops import SopsError

    if text.startswith("age1pq1") or (text.startswith("age1") and text.count("1") > 1):
        raise SopsError(f"age recipient {text[:24]}… is a post-quantum or plugin key, which isn't supported here")
    try:
        if text.startswith(("ssh-ed25519 ", "ssh-rsa ")):
            return pyrage.ssh.Recipient.from_str(text)
        return pyrage.x25519.Recipient.from_str(text)
    except pyrage.RecipientError:
        raise SopsError(f"not an age recipient: {text[:80]!r}") from None


def _identities(text: str, where: str, words: bool) -> list:
    """The identities of a key file's text (`words`: any whitespace separates them, as SOPS_AGE_KEY allows).
    Empty lines and `#` comments skipped, lines not trimmed; one bad line fails the whole source."""
    import pyrage

    if text.startswith(("age-encryption.org/", "-----BEGIN AGE ENCRYPTED FILE")):
        raise ValueError(f"{where} is a passphrase-protected identity file, which isn't supported")
    found = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw[:-1] if raw.endswith("\r") else raw  # Go's line scanner drops a CR before the LF
        if not line or line.startswith("#"):
            continue
        for item in line.split() if words else [line]:
            if not item.startswith("AGE-SECRET-KEY-1"):
                kind = "a post-quantum or plugin identity" if item.startswith(("AGE-SECRET-KEY-PQ-", "AGE-PLUGIN-")) \
                    else "not an age identity"
                raise ValueError(f"{where} line {number} is {kind}")
            try:
                found.append(pyrage.x25519.Identity.from_str(item))
            except pyrage.IdentityError:
                raise ValueError(f"{where} line {number} is not a valid age identity") from None
    return found


def _ssh_identity(data: bytes, where: str):
    import pyrage

    try:
        return pyrage.ssh.Identity.from_buffer(data)
    except pyrage.IdentityError:
        raise ValueError(f"{where} is not an SSH private key pyrage can use (passphrase-protected?)") from None


def _run(name: str, command: str, recipient: str | None, environ: Mapping[str, str]) -> bytes:
    """The stdout of a key command, split shell-style and run without a shell (sops' getOutputFromCmd)."""
    import shlex
    import subprocess

    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"{name} can't be split into words: {exc}") from None
    if not argv:
        raise ValueError(f"{name} is empty")
    env = dict(environ) if recipient is None else {**environ, "SOPS_AGE_RECIPIENT": recipient}
    try:
        done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, timeout=CMD_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValueError(f"{name} {argv[0]!r} could not run: {exc.strerror if isinstance(exc, OSError) else exc}") \
            from None
    if done.returncode:
        raise ValueError(f"{name} {argv[0]!r} exited {done.returncode}")
    return done.stdout


def config_dir(environ: Mapping[str, str]) -> Path:
    """Go's os.UserConfigDir as sops uses it: $XDG_CONFIG_HOME, else ~/.config (macOS: ~/Library/Application
    Support unless XDG_CONFIG_HOME is set)."""
    xdg = environ.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    if sys.platform == "darwin":
        return Path(envspec.home()) / "Library" / "Application Support"
    return Path(envspec.home()) / ".config"


def find(recipients: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> Found:
    """Every identity sops would use to open a file for `recipients` (only SOPS_AGE_KEY_CMD needs them)."""
    env = os.environ if environ is None else environ
    found = Found([], [], [])
    home = Path(envspec.home())
    per_recipient: list[str | None] = [*recipients] or [None]

    def add(where: str, load) -> None:
        try:
            got = load()
        except ValueError as exc:
            found.problems.append(str(exc))
            return
        except OSError as exc:
            from claude_docker.errors import describe

            found.problems.append(f"{where}: {describe(exc)}")
            return
        if got:
            found.identities.extend(got)
            found.sources.append(f"{where} ({len(got)} key{'s' if len(got) != 1 else ''})")

    def command(name: str, parse) -> None:
        if name in env:
            for who in per_recipient:
                add(name, lambda who=who: parse(_run(name, env[name], who, env)))

    if "SOPS_AGE_SSH_PRIVATE_KEY_FILE" in env:
        path = Path(env["SOPS_AGE_SSH_PRIVATE_KEY_FILE"])
        add("SOPS_AGE_SSH_PRIVATE_KEY_FILE",
            lambda: [_ssh_identity(path.read_bytes(), "SOPS_AGE_SSH_PRIVATE_KEY_FILE")])
    command("SOPS_AGE_SSH_PRIVATE_KEY_CMD", lambda out: [_ssh_identity(out, "SOPS_AGE_SSH_PRIVATE_KEY_CMD")])
    for ssh in ("id_ed25519", "id_rsa"):
        path = home / ".ssh" / ssh
        if path.exists():
            add(f"~/.ssh/{ssh}", lambda path=path, ssh=ssh: [_ssh_identity(path.read_bytes(), f"~/.ssh/{ssh}")])
    if "SOPS_AGE_KEY" in env:
        add("SOPS_AGE_KEY", lambda: _identities(env["SOPS_AGE_KEY"], "SOPS_AGE_KEY", True))
    if "SOPS_AGE_KEY_FILE" in env:
        path = Path(env["SOPS_AGE_KEY_FILE"])
        add(f"SOPS_AGE_KEY_FILE {path}", lambda: _identities(
            path.read_text("utf-8", "replace"), f"SOPS_AGE_KEY_FILE {path}", False))
    command("SOPS_AGE_KEY_CMD", lambda out: _identities(out.decode("utf-8", "replace"), "SOPS_AGE_KEY_CMD", False))
    default = config_dir(env) / "sops" / "age" / "keys.txt"
    if default.exists():
        add(str(default), lambda: _identities(default.read_text("utf-8", "replace"), str(default), False))
    return found


def identities(recipients: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> list:
    """The pooled identities alone (find's first field)."""
    return find(recipients, environ).identities
