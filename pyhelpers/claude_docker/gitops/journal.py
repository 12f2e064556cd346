"""An apply in progress, on disk: each file it is about to write, with the bytes it held before and the digest of
what the apply writes. Written (safe-write path) before the first file changes and removed once the apply is
done or undone, so an apply killed anywhere (SIGKILL, power loss) is undone by the next reconcile: a file
still holding what the apply wrote gets its old bytes back; one changed since (a session synced into it) is
left as it is, and said. Each file is replaced atomically, so every file parses at every instant; the journal
makes the set of them whole: the config is as the last good apply left it, never half of a new one.

It holds copies of the files it may restore (`.claude.json` with its tokens): 0600 in the private state dir,
like the session staging dirs, and only while an apply runs."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from claude_docker import fsio
from claude_docker.gitops.settings import gitops_dir


def journal_file() -> Path:
    return gitops_dir() / "journal.json"


def begin(revision: str, entries: list[dict]) -> None:
    """entries: {"rel", "old": bytes | None, "new": digest of what will be written (None: removed)}."""
    shown = [{"rel": e["rel"], "new": e["new"],
              "old": None if e["old"] is None else base64.b64encode(e["old"]).decode()} for e in entries]
    record = {"revision": revision, "pid": os.getpid(), "files": shown}
    fsio.write_atomic(journal_file(), json.dumps(record).encode(), mode=0o600)


def end() -> None:
    fsio.remove_durable(journal_file())


def pending() -> dict | None:
    """The journal of an apply that didn't finish, or None. A damaged journal reads as None: it was being
    written when the apply died, so no file had been touched yet."""
    try:
        found = json.loads(journal_file().read_bytes())
        files = [{"rel": f["rel"], "new": f["new"],
                  "old": None if f["old"] is None else base64.b64decode(f["old"], validate=True)}
                 for f in found["files"]]
        return {"revision": found["revision"], "pid": int(found.get("pid", 0)), "files": files}
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        try:
            os.unlink(journal_file())
        except FileNotFoundError:
            pass
        return None


def undo(journal: dict, host, digest) -> tuple[list[str], list[str]]:
    """Put back each file that still holds what the apply wrote (`host`: HostFiles, `digest`: bytes -> digest),
    and remove the temp files its writer left. Returns (restored, left: changed by someone else since)."""
    restored, left = [], []
    for entry in journal["files"]:
        host.sweep(entry["rel"], f"{fsio.TMP_PREFIX}{journal['pid']}-")
        host.forget(entry["rel"])
        now = host.read(entry["rel"])
        if now == entry["old"]:
            continue
        if digest(now) == entry["new"]:
            host.write(entry["rel"], entry["old"])
            restored.append(entry["rel"])
        else:
            left.append(entry["rel"])
    return restored, left
