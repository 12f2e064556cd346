"""The one rollout state file, `<state>/rollout/state.json`: the stable image, the deployment in progress, the
known-good images a rollback may go back to, and the history. Written only through fsio.write_atomic while
holding the rollout lock, so a SIGKILL at any instant leaves the old state or the new one, never half of each;
read without the lock on `claude`'s start (a rename is atomic)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.paths import ensure_private_dir, state_dir

SCHEMA = 1
KEEP_KNOWN_GOOD = 5  # Argo's rollback window: the last N good images come back without analysis
KEEP_HISTORY = 20
MAX_BYTES = 1 << 20
LOCK_TIMEOUT = 10.0


def rollout_dir() -> Path:
    return state_dir() / "rollout"


def state_file() -> Path:
    return rollout_dir() / "state.json"


def empty() -> dict:
    return {"schema": SCHEMA, "seq": 0, "stable": None, "known_good": [], "deployment": None, "history": []}


class Damaged(ToolError):
    def __init__(self, path: Path, why: str):
        super().__init__(f"the rollout state {path} is damaged ({why}): nothing was changed; move it away "
                         f"(mv {path} {path}.bad) to start over, sessions meanwhile run CLAUDE_DOCKER_IMAGE",
                         exitcodes.ROLLOUT_STATE_DAMAGED)


def load(path: Path | None = None) -> dict:
    """The state; empty() when there is none yet; Damaged when it doesn't parse or isn't what we write."""
    path = path or state_file()
    try:
        from claude_docker.fsio import read_capped

        raw = read_capped(path, MAX_BYTES)
    except FileNotFoundError:
        return empty()
    except OSError as exc:
        from claude_docker.errors import describe

        raise Damaged(path, describe(exc)) from None
    try:
        state = json.loads(raw)
    except (ValueError, RecursionError):
        raise Damaged(path, "not JSON") from None
    why = _invalid(state)
    if why:
        raise Damaged(path, why)
    return state


def _image_ok(value) -> bool:
    return value is None or (isinstance(value, dict) and isinstance(value.get("image"), str)
                             and isinstance(value.get("id"), str) and value["id"].startswith("sha256:"))


def _invalid(state) -> str | None:
    if not isinstance(state, dict) or state.get("schema") != SCHEMA:
        return f"not schema {SCHEMA}"
    if not isinstance(state.get("seq"), int) or not _image_ok(state.get("stable")):
        return "no valid seq or stable image"
    if not isinstance(state.get("known_good"), list) or not all(_image_ok(i) and i for i in state["known_good"]):
        return "bad known_good list"
    if not isinstance(state.get("history"), list):
        return "bad history"
    dep = state.get("deployment")
    if dep is not None:
        if not isinstance(dep, dict) or not all(isinstance(dep.get(k), str) for k in ("id", "mode")):
            return "bad deployment"
        if not _image_ok(dep.get("candidate")) or not dep.get("candidate") or not _image_ok(dep.get("baseline")):
            return "bad deployment images"
        numbers = ("weight", "step", "started", "step_started", "failed_checks", "failed_period", "errors")
        if not all(isinstance(dep.get(k), (int, float)) and not isinstance(dep.get(k), bool) for k in numbers):
            return "bad deployment counters"
        if not 0.0 <= dep["weight"] <= 1.0 or not isinstance(dep.get("plan"), dict):
            return "bad deployment weight or plan"
        plan = dep["plan"]
        steps = plan.get("steps")
        if not isinstance(steps, list) or not steps or not all(isinstance(s, (int, float)) for s in steps):
            return "bad plan steps"
        if not all(isinstance(plan.get(k), (int, float)) for k in ("interval", "window", "min_sessions",
                                                                     "max_error_rate", "max_p95_start",
                                                                     "baseline_margin", "failure_limit",
                                                                     "error_limit", "progress_deadline")):
            return "bad plan values"
        if not 0 <= dep["step"] < len(steps):
            return "bad step index"
    return None


def save(state: dict, path: Path | None = None) -> None:
    """Write it (the caller holds `lock()`); seq counts the writes, so a reader can tell it moved."""
    from claude_docker.fsio import write_atomic

    path = path or state_file()
    ensure_private_dir(path.parent)
    state["seq"] = state.get("seq", 0) + 1
    write_atomic(path, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode(), 0o600)


def lock(timeout: float = LOCK_TIMEOUT):
    """Held around every read-decide-write of the state: transitions never interleave."""
    from claude_docker.locking import state_lock

    return state_lock("rollout", timeout, exitcodes.ROLLOUT_CONFLICT)


def deploy_lock():
    """Held by a deploy for its whole run (smoke tests included): a second one is refused at once."""
    from claude_docker.locking import state_lock

    return state_lock("rollout-deploy", 0.0, exitcodes.ROLLOUT_CONFLICT)


def end_deployment(state: dict, outcome: str, reason: str, now: float | None = None) -> dict:
    """The deployment moved to the history (newest first); the state's deployment is then None."""
    dep = state["deployment"]
    entry = {"id": dep["id"], "mode": dep["mode"], "candidate": dep["candidate"], "baseline": dep["baseline"],
             "started": dep["started"], "ended": now or time.time(), "outcome": outcome, "reason": reason,
             "weight": dep["weight"], "step": dep["step"]}
    state["history"] = [entry, *state["history"]][:KEEP_HISTORY]
    state["deployment"] = None
    return entry


def remember_good(state: dict, image: dict | None) -> None:
    """`image` on top of the known-good list (Argo's rollback window), without repeats."""
    if image:
        rest = [i for i in state["known_good"] if i["id"] != image["id"]]
        state["known_good"] = [{"image": image["image"], "id": image["id"]}, *rest][:KEEP_KNOWN_GOOD]
