"""Real git for tests: a bare remote and a clone to commit in (files written, changed or removed, raw index
records for names no file system makes), a private global git config, and SSH signing keys."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode(errors="surrogateescape").strip()


def private_git_config(home: Path) -> Path:
    """A global git config of the test's own (no signing, no hooks of the developer's); file:// allowed."""
    config = home / ".gitconfig"
    config.write_text("[user]\n\tname = Test Author\n\temail = author@example.com\n[init]\n\tdefaultBranch = main\n"
                      "[protocol \"file\"]\n\tallow = always\n")
    return config


class Repo:
    """A bare remote and a clone of it to commit in."""

    def __init__(self, base: Path):
        self.remote = base / "remote.git"
        self.work = base / "work"
        git("init", "--quiet", "--bare", str(self.remote))
        git("init", "--quiet", str(self.work))
        git("remote", "add", "origin", str(self.remote), cwd=self.work)

    def commit(self, files: dict[str, str | None], message: str = "change", *options: str, push: str = "push") -> str:
        """Write each file (None: remove it), commit them (with `options` before `commit`, such as a signing
        key's -c settings) and push (push="force": a force-push; "": none). Returns the commit id."""
        for name, text in files.items():
            path = self.work / name
            if text is None:
                git("rm", "--quiet", "--", name, cwd=self.work)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            git("add", "--", name, cwd=self.work)
        git(*options, "commit", "--quiet", "--allow-empty", "-m", message, cwd=self.work)
        if push:
            git("push", "--quiet", *(["--force"] if push == "force" else []), "origin", "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def index(self, records: list[tuple[str, str, bytes]]) -> None:
        """Stage (mode, oid, raw name) records as they are: names no file system or shell would make easily."""
        data = b"".join(f"{mode} {oid}\t".encode() + name + b"\0" for mode, oid, name in records)
        git("update-index", "-z", "--index-info", cwd=self.work, stdin=data)

    def blob(self, data: bytes) -> str:
        return git("hash-object", "-w", "--stdin", cwd=self.work, stdin=data)


def keygen(path: Path) -> str:
    """An ed25519 key pair without passphrase at `path`; its public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def signing_keys(base: Path, allowed: str) -> tuple[Path, Path]:
    """(a folder with the SSH keys `allowed` and `mallory`, an allowed-signers file naming only `allowed` as
    <allowed>@example.com)."""
    keys = base / "keys"
    keys.mkdir()
    public = keygen(keys / allowed)
    keygen(keys / "mallory")
    signers = keys / "allowed_signers"
    signers.write_text(f'{allowed}@example.com namespaces="git" {public}\n')
    return keys, signers


def ssh_signed(key: Path) -> tuple[str, ...]:
    """git options that sign a commit with the SSH key at `key`."""
    return ("-c", "gpg.format=ssh", "-c", f"user.signingKey={key}", "-c", "commit.gpgSign=true")
