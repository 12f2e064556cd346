"""The one rollout state file, `<state>/rollout/state.json`: the stable image, the deployment in progress, the
known-good images a rollback may go back to, and the history. Written only through fsio.write_atomic while
holding the rollout lock, so a SIGKILL at any instant leaves the old state or the new one, never half of each;
read without the lock on `claude`'s start (a rename is atomic)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.paths import ensure_private_dir, state_dir

SCHEMA = 1
KEEP_KNOWN_GOOD = 5  # Argo's rollback window: the last N good images come back without analysis
KEEP_HISTORY = 20
ID = r"\d{8}T\d{6}Z-[0-9a-f]{6}"  # controller.new_id's: it names files, so nothing else is read
MAX_TIME = 32503680000.0  # the year 3000: any time past it is a hand edit (and would not format)
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


def _number(value, low: float = -math.inf, high: float = math.inf) -> bool:
    """A finite number (not a bool) from `low` to `high` (json reads NaN and Infinity too)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and low <= value <= high)


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _invalid(state) -> str | None:
    """Why `state` is not what this version writes (None: it is). Everything read later is checked here, so a
    hand-edited file is refused with one line rather than failing halfway through a transition."""
    if not isinstance(state, dict) or state.get("schema") != SCHEMA:
        return f"not schema {SCHEMA}"
    if not _whole(state.get("seq"), 0, 2 ** 62) or not _image_ok(state.get("stable")):
        return "no valid seq or stable image"
    if not isinstance(state.get("known_good"), list) or not all(_image_ok(i) and i for i in state["known_good"]):
        return "bad known_good list"
    history = state.get("history")
    if not isinstance(history, list) or not all(
            isinstance(h, dict) and all(isinstance(h.get(k), str) for k in ("id", "outcome", "reason"))
            and _image_ok(h.get("candidate")) and h.get("candidate") and _number(h.get("ended"), 0.0, MAX_TIME)
            for h in history):
        return "bad history"
    dep = state.get("deployment")
    return None if dep is None else _invalid_deployment(dep)


def _invalid_deployment(dep) -> str | None:
    import re

    if not isinstance(dep, dict) or not isinstance(dep.get("id"), str) or not re.fullmatch(ID, dep["id"]):
        return "bad deployment id"
    if dep.get("mode") not in ("auto", "manual") or not isinstance(dep.get("smoke"), str):
        return "bad deployment mode"
    if not _image_ok(dep.get("candidate")) or not dep.get("candidate") or not _image_ok(dep.get("baseline")) \
            or not dep.get("baseline"):
        return "bad deployment images"
    plan = dep.get("plan")
    if not isinstance(plan, dict):
        return "bad plan"
    steps = plan.get("steps")
    if not isinstance(steps, list) or not 1 <= len(steps) <= 100 or not all(_number(s, 0.0, 100.0) for s in steps):
        return "bad plan steps"
    if not all(_number(plan.get(k), 1e-3) for k in ("interval", "window", "max_p95_start", "progress_deadline")):
        return "bad plan durations"
    if not all(_number(plan.get(k), 0.0, 1.0) for k in ("max_error_rate", "baseline_margin")):
        return "bad plan shares"
    if not all(_whole(plan.get(k), low, 10 ** 9) for k, low in (("min_sessions", 1), ("failure_limit", 0),
                                                                ("error_limit", 0))):
        return "bad plan counts"
    if plan.get("sticky", "none") not in ("none", "user", "project"):
        return "bad plan sticky mode"
    if not _whole(dep.get("step"), 0, len(steps) - 1) or not _number(dep.get("weight"), 0.0, 1.0):
        return "bad step or weight"
    if not all(_number(dep.get(k), 0.0, MAX_TIME) for k in ("started", "step_started")):
        return "bad deployment times"
    if not all(_whole(dep.get(k, -1), -1, 2 ** 62) for k in ("failed_checks", "failed_period", "errors",
                                                             "error_period")):
        return "bad deployment counters"
    alerts = dep.get("alerts", [])
    if not isinstance(alerts, list) or not all(
            isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("severity"), str)
            and _number(a.get("at"), 0.0, MAX_TIME) for a in alerts):
        return "bad alerts"
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
