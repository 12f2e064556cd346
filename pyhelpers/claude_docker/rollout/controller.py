"""Every change of a rollout: start, share set by hand, step, promotion, rollback, and the evaluation that
decides them. A transition is decided on the state and the session records read while holding the rollout
lock, and written through the one safe-write path before it is told: a SIGKILL at any instant leaves the old
state or the new one, and two evaluators (a session ending, `rollout watch`, a `claude` start) never make the
same transition twice, nor one that records newer than their first look would forbid. Each is an event, a
span and a `claude_docker_rollout_*` metric."""

from __future__ import annotations

import sys
import time

from claude_docker.errors import ToolError
from claude_docker.obs import events
from claude_docker.obs.catalog import observe
from claude_docker.rollout import analysis, records
from claude_docker.rollout import plan as plans
from claude_docker.rollout import state as states


def new_id(now: float) -> str:
    import os

    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + os.urandom(3).hex()


def _told(transition: str, dep: dict | None, message: str, **fields) -> None:
    """The transition (of the deployment `dep`, or of the stable image) as an event, a span (its own trace, or
    the caller's TRACEPARENT) and metrics."""
    import os

    from claude_docker.obs import context, settings
    from claude_docker.obs.tracing import Tracer

    failed = transition == "rolled_back"
    tracer = Tracer("rollout." + transition, os.environ.get("TRACEPARENT"))
    if dep:
        tracer.root.attributes.update({"claude_docker.deployment": dep["id"],
                                       "claude_docker.rollout.weight": float(dep["weight"]),
                                       "container.image.name": dep["candidate"]["image"]})
        fields = {"deployment": dep["id"], "candidate": dep["candidate"]["image"], "weight": dep["weight"],
                  "step": dep["step"], **fields}
    saved = context.current().copy()
    context.bind(trace_id=tracer.trace_id, span_id=tracer.root.span_id)
    try:
        events.emit(f"rollout.{transition}", message, level="error" if failed else "info",
                    outcome="error" if failed else "ok", fields=fields)
        observe("claude_docker_rollout_transitions_total", 1, transition=transition)
        tracer.root.end(error=message if failed else None)
        if settings.enabled():
            try:
                tracer.write(settings.traces_file())
            except Exception:  # noqa: BLE001 - a trace that can't be stored never stops a rollback
                pass
    finally:
        context.bind(trace_id=saved.get("trace_id"), span_id=saved.get("span_id"))
    from claude_docker.obs.flush import spawn_background

    spawn_background()  # exported now: a rollout's alerts and panels follow it within a scrape


TRANSITIONS = ("started", "share_set", "stepped", "promoted", "rolled_back", "restored")


def _series_from_zero(dep_id: str) -> None:
    """A counter series Prometheus first sees at 1 hides that increment from increase(): the deployment's
    session series, and every transition's, are recorded at 0 when it starts (exported by the flush then)."""
    from claude_docker.rollout.records import CLASSES

    for slot in ("v1", "v2"):
        for cls in CLASSES:
            observe("claude_docker_rollout_sessions_total", 0, deployment=dep_id, slot=slot, **{"class": cls})
    for transition in TRANSITIONS:
        observe("claude_docker_rollout_transitions_total", 0, transition=transition)


def _in_progress(dep: dict) -> ToolError:
    from claude_docker import exitcodes

    return ToolError(f"a rollout of {dep['candidate']['image']} ({dep['id']}) is in progress at "
                     f"{plans.percent(dep['weight'])}: roll it back first (claude-docker rollout rollback)",
                     exitcodes.ROLLOUT_CONFLICT)


def start(candidate: dict, baseline: dict, plan: dict, mode: str, weight: float, smoke: str) -> dict:
    """A new deployment (none may be in progress); the state after. The stable image is not pinned by it: a
    rollback returns sessions to what they ran before (the last promoted image, or the settings' image)."""
    now = time.time()
    with states.lock():
        state = states.load()
        if state["deployment"]:
            raise _in_progress(state["deployment"])
        _forget_ended(state)
        dep: dict = {"id": new_id(now), "mode": mode, "candidate": candidate, "baseline": baseline, "plan": plan,
                     "step": 0, "weight": weight, "started": now, "step_started": now, "failed_checks": 0,
                     "failed_period": -1, "errors": 0, "error_period": -1, "smoke": smoke, "alerts": []}
        state["deployment"] = dep
        states.save(state)
    _series_from_zero(dep["id"])
    _told("started", dep, f"rollout of {candidate['image']} started at {plans.percent(weight)}",
          mode=mode, steps=plan["steps"])
    if mode == "manual" and weight >= 1.0:
        return promote(dep["id"], "the share was set to 100%")
    return state


def _forget_ended(state: dict) -> None:
    """Session logs and rollups of deployments no longer in progress (a session that ended after its rollout
    did, or an evaluator's cache written as the rollout ended, can leave one behind)."""
    import glob
    import os

    live = state["deployment"]["id"] if state["deployment"] else None
    for pattern in ("sessions-*.log", "rollup-*.json"):
        for path in glob.glob(os.path.join(glob.escape(str(states.rollout_dir())), pattern)):
            if live is None or live not in os.path.basename(path):
                try:
                    os.unlink(path)
                except OSError:
                    pass


def set_share(candidate: dict, weight: float) -> dict:
    """The seed's manual step: the share of the deployment in progress moved by hand (1.0 promotes). A rollout
    that was stepping by itself is taken over: from now on only a person moves it (the gates still roll back)."""
    from claude_docker import exitcodes

    if weight >= 1.0:
        with states.lock():
            dep = states.load()["deployment"]
        if not dep or dep["candidate"]["id"] != candidate["id"]:
            raise ToolError("no rollout of that image is in progress", exitcodes.ROLLOUT_CONFLICT)
        return promote(dep["id"], "the share was set to 100%")
    with states.lock():
        state = states.load()
        dep = state["deployment"]
        if not dep or dep["candidate"]["id"] != candidate["id"]:
            raise ToolError("no rollout of that image is in progress", exitcodes.ROLLOUT_CONFLICT)
        dep.update(mode="manual", weight=weight, step_started=time.time(), failed_checks=0, failed_period=-1)
        states.save(state)
    _told("share_set", dep, f"the share of {candidate['image']} was set to {plans.percent(weight)}")
    return state


def _end(state: dict, outcome: str, reason: str) -> tuple[dict, dict]:
    """The deployment in `state` ended (the caller holds the lock and saves): (the deployment, its history
    entry). Promoted: the candidate is the stable image, the one sessions ran before it the rollback target."""
    dep = state["deployment"]
    baseline = {"image": dep["baseline"]["image"], "id": dep["baseline"]["id"]}
    if outcome == "promoted":
        states.remember_good(state, state["stable"] or baseline)
        state["stable"] = dep["candidate"]
        dep["weight"] = 1.0
    else:
        dep["weight"] = 0.0
        if dep["baseline"].get("from") == "setting" and not state["stable"]:
            state["stable"] = baseline  # the stable image the deploy named (CLAUDE_DOCKER_IMAGE), kept by id
    return dep, states.end_deployment(state, outcome, reason)


def _ended(outcome: str, dep: dict, reason: str, gate: str | None = None) -> None:
    """What follows an end, once it is written: the deployment's records go, and it is told."""
    records.remove(dep["id"])
    if outcome == "promoted":
        _told("promoted", dep, f"{dep['candidate']['image']} promoted to stable: {reason}")
    else:
        _told("rolled_back", dep, f"rollout of {dep['candidate']['image']} rolled back: {reason}",
              gate=gate or "manual")


def promote(dep_id: str, reason: str) -> dict:
    with states.lock():
        state = states.load()
        if not state["deployment"] or state["deployment"]["id"] != dep_id:
            return state  # another evaluator ended it first
        dep, _ = _end(state, "promoted", reason)
        states.save(state)
    _ended("promoted", dep, reason)
    return state


def rollback(reason: str, dep_id: str | None = None, gate: str = "manual") -> dict | None:
    """Every new session on the stable image from the next `claude` start; sessions already on the candidate
    finish untouched. The history entry; None when there is nothing (or no longer `dep_id`) to roll back."""
    with states.lock():
        state = states.load()
        if not state["deployment"] or (dep_id and state["deployment"]["id"] != dep_id):
            return None
        dep, entry = _end(state, "rolled_back", reason)
        states.save(state)
    _ended("rolled_back", dep, reason, gate)
    return entry


def back_to(image: dict | None, reason: str) -> dict:
    """`rollback --to`: a known-good image made stable at once, without analysis (Argo's rollback window), or
    (None) no pinned stable image at all: the settings' image again. A deployment in progress is rolled back
    first. The image left is not remembered as good: going back is what one does to a bad one."""
    rollback(reason)
    with states.lock():
        state = states.load()
        state["stable"] = image
        if image:
            state["known_good"] = [i for i in state["known_good"] if i["id"] != image["id"]]
        states.save(state)
    shown = image["image"] if image else "the CLAUDE_DOCKER_IMAGE setting's image"
    _told("restored", None, f"{shown} is stable again: {reason}",
          image=image["image"] if image else None, id=image["id"] if image else None)
    return state


def analyze(dep: dict, now: float, persist: bool) -> tuple[list, dict, str]:
    """The gates over the deployment's current step, from the persisted rollup and the lines after it; the
    per-slot totals they judged, and which: "window" (its last `window`), or "step" (all of it, while the window
    has too few candidate sessions, or the step is younger than the window)."""
    plan = dep["plan"]
    rollup = records.load(dep["id"], plan)
    measured = records.fold(rollup, dep["step"])
    if persist and measured:
        try:
            records.save(rollup)
        except OSError:
            pass  # a cache: the next fold starts further back
    recent = records.window(rollup, dep["step"], max(dep["step_started"], now - plan["window"]))
    whole = records.window(rollup, dep["step"], dep["step_started"])
    found = analysis.gates(dep, recent, whole, rollup["bounds"], now, measured)
    if recent["v2"].sessions >= plan["min_sessions"] and now - dep["step_started"] > plan["window"]:
        return found, recent, "window"
    return found, whole, "step"


def evaluate(trigger: str, now: float | None = None, state: dict | None = None,
             wait: float = states.LOCK_TIMEOUT) -> str:
    """Analyze the deployment in progress (in `state`, as just read, or read now) and carry out what it asks;
    the action the gates asked for (a count may find this interval's counted already), or "none" with no
    deployment (or none left). A first look without the lock; anything to write is decided again under it,
    on the records as they are then."""
    now = time.time() if now is None else now
    state = state or states.load()
    dep = state["deployment"]
    if not dep:
        return "none"
    found = analyze(dep, now, persist=True)[0]  # (a start's skip test reads when the rollup was last judged)
    action = analysis.decide(dep, found, now)
    if action == analysis.HOLD and not (dep["errors"] and _measured(found)):
        _count_checks(found, trigger)
        return action
    with states.lock(wait):
        state = states.load()
        live = state["deployment"]
        if not live or live["id"] != dep["id"]:
            return "none"  # another evaluator ended it
        found = analyze(live, now, persist=True)[0]
        action = analysis.decide(live, found, now)
        tell = _apply(state, live, action, found, now)
        if tell is not None:
            states.save(state)
    _count_checks(found, trigger)
    failing = [g for g in found if g.verdict == analysis.FAIL]
    for gate in failing if action in (analysis.ROLLBACK, analysis.COUNT_FAILURE) and tell is not None else ():
        events.emit("rollout.gate", f"{gate.name} failed: {gate.detail}", level="warn", outcome="error",
                    fields={"deployment": live["id"], "gate": gate.name, "trigger": trigger,
                            "failed_checks": live["failed_checks"]})
    if tell is not None:
        tell()
    return action


def _count_checks(found: list, trigger: str) -> None:
    for gate in found:
        if gate.verdict != analysis.SKIPPED and (trigger != "start" or gate.verdict == analysis.FAIL):
            observe("claude_docker_rollout_gate_checks_total", 1, gate=gate.name, verdict=gate.verdict)


def _measured(found: list) -> bool:
    return any(g.name == "measurement" and g.verdict == analysis.PASS for g in found)


def _apply(state: dict, dep: dict, action: str, found: list, now: float):
    """Carry `action` out on `state` (under the lock); what tells it once saved, or None if nothing changed."""
    if action == analysis.ROLLBACK:
        failing = [g for g in found if g.verdict == analysis.FAIL]
        reason = "; ".join(f"{g.name}: {g.detail}" for g in failing)
        ended, _ = _end(state, "rolled_back", reason)

        def told_rollback() -> None:
            _ended("rolled_back", ended, reason, failing[0].name if failing else "failure_limit")
            print(f"claude-docker: rollout of {ended['candidate']['image']} rolled back: {reason}", file=sys.stderr)
        return told_rollback
    if action == analysis.PROMOTE:
        steps = ", ".join(f"{s:g}%" for s in dep["plan"]["steps"])
        reason = f"every step passed its gates ({steps})"
        ended, _ = _end(state, "promoted", reason)
        return lambda: _ended("promoted", ended, reason)
    if action == analysis.STEP:
        dep["step"] += 1
        dep["weight"] = dep["plan"]["steps"][dep["step"]] / 100
        dep.update(step_started=now, failed_checks=0, failed_period=-1, errors=0, error_period=-1)
        return lambda: _told("stepped", dep, f"{dep['candidate']['image']} moved to {plans.percent(dep['weight'])}")
    period = analysis.period(dep, now)
    if action == analysis.COUNT_FAILURE and dep["failed_period"] != period:
        dep["failed_checks"] += 1
        dep["failed_period"] = period
        return lambda: None
    if action == analysis.COUNT_ERROR and dep.get("error_period", -1) != period:
        dep["errors"] += 1
        dep["error_period"] = period
        return lambda: None
    if action == analysis.HOLD and dep["errors"] and _measured(found):
        dep["errors"] = 0  # measurement errors count in a row
        return lambda: None
    return None


def alert(name: str, severity: str) -> dict | None:
    """The alerting capability's hook: a critical alert rolls the deployment in progress back at once; others
    are kept on the deployment for `rollout status`. The rolled-back history entry, or None."""
    if severity == "critical":
        return rollback(f"critical alert {name} firing", gate="alert")
    with states.lock():
        state = states.load()
        dep = state["deployment"]
        if dep:
            dep["alerts"] = [*dep.get("alerts", []), {"name": name, "severity": severity, "at": time.time()}][-10:]
            states.save(state)
    events.emit("rollout.alert", f"{severity} alert {name}", level="warn",
                fields={"severity": severity, "name": name})
    return None
