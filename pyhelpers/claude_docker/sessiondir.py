"""A session's directory under `<state>/sessions/<id>/`: its staging HOME, base copies and manifest.

The manifest says everything needed to finish the session's sync later, by `cleanup`, if the wrapper
that started it was killed. A directory that is still here after its wrapper is gone is an interrupted
session; one whose state is `sync-failed` is waiting for a retry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from claude_docker.fsio import write_atomic
from claude_docker.liveness import GONE, Place, here, is_alive, wrapper_state
from claude_docker.paths import ensure_private_dir, state_dir

MANIFEST = "session.json"
CREATING = ".creating-"
REMOVING = ".removing-"


def sessions_root() -> Path:
    return state_dir() / "sessions"


def new_session_id() -> str:
    return os.urandom(6).hex()


class SessionDir:
    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def create(cls, session_id: str, header: dict) -> "SessionDir":
        """Make the dir with its manifest already in it (state "starting"), so that at any instant it either
        does not exist or says whose it is. The half-made one is named after its creator's pid and start."""
        ensure_private_dir(state_dir())
        root = ensure_private_dir(sessions_root())
        creating = root / f"{CREATING}{header['wrapper_pid']}-{header['wrapper_start']}-{session_id}"
        creating.mkdir(mode=0o700)
        cls(creating).write_manifest({"session": session_id, "state": "starting", **header})
        path = root / session_id
        os.rename(creating, path)
        return cls(path)

    @property
    def session_id(self) -> str:
        return self.path.name

    @property
    def home(self) -> Path:
        return self.path / "home"

    @property
    def config(self) -> Path:
        return self.path / "config"

    @property
    def base(self) -> Path:
        return self.path / "base"

    def read_manifest(self) -> dict:
        return json.loads((self.path / MANIFEST).read_bytes())

    def write_manifest(self, manifest: dict) -> None:
        write_atomic(self.path / MANIFEST, json.dumps(manifest, indent=1).encode())

    def update(self, **fields) -> dict:
        manifest = self.read_manifest()
        manifest.update(fields)
        self.write_manifest(manifest)
        return manifest

    def remove(self) -> None:
        """Renamed out of the sessions' names first, in one step: a kill during the (long) rmtree then leaves
        a `.removing-` dir that cleanup finishes, never a half-deleted session that no one would list."""
        import shutil

        doomed = self.path.with_name(REMOVING + self.path.name)
        try:
            os.rename(self.path, doomed)
        except OSError:
            doomed = self.path
        shutil.rmtree(doomed, ignore_errors=True)


def all_sessions() -> list[SessionDir]:
    root = sessions_root()
    try:
        return sorted((SessionDir(p) for p in root.iterdir()
                       if not p.name.startswith(".") and (p / MANIFEST).is_file()), key=lambda s: s.path.name)
    except OSError:  # no state dir yet, or not one we can list: no sessions to speak of
        return []


def unfinished_removals() -> list[Path]:
    """Session dirs whose removal was cut short (the remover killed): nothing in them is needed any more."""
    try:
        return sorted(p for p in sessions_root().iterdir() if p.name.startswith(REMOVING))
    except OSError:
        return []


def abandoned_creations() -> list[Path]:
    """Session dirs whose creator died before finishing them (only ever empty or nearly so)."""
    try:
        candidates = [p for p in sessions_root().iterdir() if p.name.startswith(CREATING)]
    except OSError:
        return []
    dead = []
    for path in candidates:
        pid, start, _ = path.name[len(CREATING):].split("-", 2)
        if not is_alive(int(pid), start):
            dead.append(path)
    return dead


def interrupted(sessions: list[SessionDir], host: str) -> list[tuple[SessionDir, dict]]:
    """Sessions started here (`host`, this boot and PID namespace) whose wrapper is gone: their config was
    never (fully) synced back. One of anywhere else, or whose manifest doesn't say where (an older
    version's), may be running: a shared state dir must not have its sessions synced out from under them."""
    current = here()._replace(host=host)
    found = []
    for session in sessions:
        try:
            manifest = session.read_manifest()
        except (OSError, ValueError):
            continue
        if wrapper_state(Place.of(manifest), int(manifest.get("wrapper_pid", 0)), manifest.get("wrapper_start", ""),
                         current) == GONE:
            found.append((session, manifest))
    return found
