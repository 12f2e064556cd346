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
    def create(cls, session_id: str, header: dict) -> SessionDir:
        """Make the dir with its manifest already in it (state "starting"), so that at any instant it either
        does not exist or says whose it is. The half-made one is named after its creator's pid and start."""
        ensure_private_dir(state_dir())
        root = ensure_private_dir(sessions_root())
        creating = root / f"{CREATING}{header['wrapper_pid']}-{header['wrapper_start']}-{session_id}"
        creating.mkdir(mode=0o700)
        try:
            cls(creating).write_manifest({"session": session_id, "state": "starting", **header})
            path = root / session_id
            os.rename(creating, path)
        except BaseException:
            cls(creating).remove()  # (a full disk): no half-made dir left for cleanup
            raise
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
        """The manifest; Damaged if it is not one this tool writes (so nothing below trips over it)."""
        try:
            manifest = json.loads((self.path / MANIFEST).read_bytes())
        except (ValueError, RecursionError) as exc:  # (UnicodeDecodeError too; nested past any manifest)
            raise Damaged(f"not JSON: {exc}") from None
        problem = manifest_problem(manifest)
        if problem:
            raise Damaged(problem, manifest)
        return manifest

    def write_manifest(self, manifest: dict) -> None:
        # On one line: with an indent, json encodes in Python, ~10x slower (and sync out writes it per file).
        write_atomic(self.path / MANIFEST, json.dumps(manifest).encode())

    def update(self, **fields) -> dict:
        manifest = self.read_manifest()
        manifest.update(fields)
        self.write_manifest(manifest)
        return manifest

    def remove(self) -> None:
        """Renamed out of the sessions' names first, in one step: a kill during the (long) rmtree then leaves
        a `.removing-` dir that cleanup finishes, never a half-deleted session that no one would list."""
        doomed = self.path.with_name(REMOVING + self.path.name)
        try:
            os.rename(self.path, doomed)
        except OSError:
            doomed = self.path
        finish_removal(doomed)


def finish_removal(path: Path) -> None:
    """Delete a dir being removed (or whatever else was left under its name), following no link."""
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


class Damaged(ValueError):
    """A session manifest this tool could not have written; `found`: what it parsed to (None: not JSON)."""

    def __init__(self, problem: str, found: object = None):
        super().__init__(problem)
        self.found = found


# The fields a manifest has from its creation on, and those of one whose container started (sync_out's).
_HEADER = {"session": str, "state": str, "wrapper_pid": int, "wrapper_start": str}
_RUNNING = {"host_config": str, "config_key": str, "mounted": list, "tracked": list}
_TRACKED = {"key": str, "host": str, "kind": str}


def _may_be_running(raw: object, current: Place) -> bool:
    """Does a damaged manifest still place its wrapper somewhere other than here-and-gone? Then it may be a
    live session (of another host sharing this state dir, or of another version): it is left as it is."""
    if not isinstance(raw, dict):
        return False
    place, pid, start = Place.of(raw), raw.get("wrapper_pid"), raw.get("wrapper_start")
    if type(pid) is not int or not isinstance(start, str):
        return all(place) and place != current
    return wrapper_state(place, pid, start, current) != GONE


def manifest_problem(manifest: object) -> str:
    """What makes `manifest` unusable ("" if nothing): its type, a missing key or one of the wrong type."""
    if not isinstance(manifest, dict):
        return f"a JSON {type(manifest).__name__}, not an object"
    wanted = dict(_HEADER)
    if manifest.get("state") not in ("starting", None):
        wanted.update(_RUNNING)
    for key, kind in wanted.items():
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            return f"{key} is missing or not a {kind.__name__}"
    for field in Place._fields:
        if not isinstance(manifest.get(field, ""), str):
            return f"{field} is not a string"
    for rec in manifest.get("tracked", []):
        if not isinstance(rec, dict) or not all(isinstance(rec.get(k), t) for k, t in _TRACKED.items()):
            return "a tracked file's record is incomplete"
    return ""


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
    """Session dirs whose creator died before finishing them (only ever empty or nearly so). One whose
    name doesn't say its creator was not made by this tool: it is set aside."""
    try:
        candidates = [p for p in sessions_root().iterdir() if p.name.startswith(CREATING)]
    except OSError:
        return []
    dead = []
    for path in candidates:
        pid, _, rest = path.name[len(CREATING):].partition("-")
        start, _, sid = rest.partition("-")
        if not (pid.isdigit() and (start.isdigit() or not start) and sid):
            from claude_docker import damage

            damage.set_aside(path, "not a name this tool gives", "it is no session of this tool")
        elif not is_alive(int(pid), start):
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
        except Damaged as exc:
            if _may_be_running(exc.found, current):
                continue  # placed elsewhere, or its wrapper lives (a version that writes it otherwise): not ours
            from claude_docker import damage

            # Nothing can finish such a session: kept whole (its staged changes with it).
            damage.set_aside(session.path, f"its {MANIFEST}: {exc}", "the session can't be synced back")
            continue
        except OSError:
            continue  # gone meanwhile (finished by its wrapper), or not ours to read
        if wrapper_state(Place.of(manifest), manifest["wrapper_pid"], manifest["wrapper_start"], current) == GONE:
            found.append((session, manifest))
    return found
