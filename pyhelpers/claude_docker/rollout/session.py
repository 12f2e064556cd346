"""A `claude` run's side of a rollout: at the start, the gates evaluated (cheap: the persisted rollup) and a
slot picked; at the end, the session classified, recorded, and the gates evaluated again, so a failing
session can roll the candidate back at once. Nothing here ever stops the session it describes."""

from __future__ import annotations

import os
import sys

from claude_docker import envspec
from claude_docker.rollout import assign
from claude_docker.rollout import state as states

START_WAIT = 0.5  # seconds a start waits for the rollout lock before it runs what was decided

class Assigned:
    """What the start decided: the slot, the image (its id), the deployment if any."""

    __slots__ = ("deployment", "image", "signalled", "slot")

    def __init__(self, slot: str, image: str, deployment: str | None):
        self.slot, self.image, self.deployment = slot, image, deployment
        self.signalled = False  # set when the wrapper forwarded a signal to the session (a person's Ctrl-C)

    def classify(self, status: int) -> str:
        from claude_docker.rollout.records import classify

        return classify(status, self.signalled)

    def ended(self, cls: str, startup: float | None) -> None:
        """The session's record, under the step it ended in (a long session that fails late counts where it
        failed), then the gates: a rollback this causes is told on stderr."""
        if not self.deployment:
            return
        from claude_docker.obs.catalog import observe
        from claude_docker.rollout import controller, records

        try:
            state = states.load()
            live = state["deployment"]
            if not live or live["id"] != self.deployment:
                return  # it ended while this session ran: nothing left to judge (its summary is in the history)
            observe("claude_docker_rollout_sessions_total", 1, deployment=self.deployment, slot=self.slot,
                    **{"class": cls})
            records.append(self.deployment, live["plan"], live["step"], self.slot, cls, startup)
            controller.evaluate("session")
        except Exception as exc:  # noqa: BLE001 - the session is over and synced; its status is what counts
            print(f"claude-docker: warning: the rollout could not record this session: "
                  f"{getattr(exc, 'message', None) or exc}", file=sys.stderr)


def _may_be_due(dep: dict) -> bool:
    """Whether the gates could ask for something new at this start. Sessions are judged when they end, so a
    start only matters for what time brings: a step's interval or deadline passing. Within the interval
    nothing is due; past it, an evaluation persisted after the interval and after the last session line
    (the rollup file newer than the log) has seen all there is. Two stats instead of the analysis."""
    import time

    plan = dep["plan"]
    held = time.time() - dep["step_started"]
    if (dep["failed_checks"] and held // plan["interval"] != dep["failed_period"]) or dep["errors"]:
        return True  # a failed check of an earlier interval (or a measurement error) waits for its next one
    if held < plan["interval"]:
        return False
    if held > plan["progress_deadline"]:
        return True
    from claude_docker.rollout import records

    try:
        judged = os.stat(records.rollup_path(dep["id"])).st_mtime
    except OSError:
        return True
    try:
        recorded = os.stat(records.log_path(dep["id"])).st_mtime
    except OSError:
        recorded = 0.0
    return judged < dep["step_started"] + plan["interval"] or judged < recorded


def at_start(v1_default: str, v2_image: str | None, v2_share: float, project: str) -> Assigned:
    """The slot for a session with no image of the user's own: the deployment's share between its stable and
    candidate images (by id), else the stable image a promotion left, else the CLAUDE_DOCKER_* slots."""
    try:
        state = states.load()
    except Exception as exc:  # noqa: BLE001 - a damaged state file never stops a session: the settings' slots run
        print(f"claude-docker: warning: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        state = states.empty()
    if state["deployment"] and _may_be_due(state["deployment"]):
        from claude_docker.rollout import controller

        try:
            # A short wait: whoever holds the lock is judging the rollout already.
            if controller.evaluate("start", state=state, wait=START_WAIT) != "hold":
                state = states.load()  # it moved (a step, a promotion, a rollback)
        except Exception as exc:  # noqa: BLE001 - judged at the next start or end; this one runs what was decided
            print(f"claude-docker: warning: the rollout was not judged at this start: "
                  f"{getattr(exc, 'message', None) or exc}", file=sys.stderr)
    dep = state["deployment"]
    if dep:
        mode = envspec.get("CLAUDE_DOCKER_ROLLOUT_STICKY") or dep["plan"].get("sticky", "none")
        user = os.environ.get("USER") or str(os.getuid())
        key = assign.sticky_key(mode, f"{user}@{os.uname().nodename}", project)
        slot = assign.slot(float(dep["weight"]), dep["id"], key)
        image = dep["candidate"]["id"] if slot == "v2" else dep["baseline"]["id"]
        return Assigned(slot, image, dep["id"])
    stable = state["stable"]["id"] if state["stable"] else v1_default
    if v2_image and v2_share > 0 and assign.slot(v2_share, "", None) == "v2":
        return Assigned("v2", v2_image, None)
    return Assigned("v1", stable, None)
