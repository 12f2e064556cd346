"""Every change of a rollout: start, share set by hand, step, promotion, rollback, and the evaluation that
decides them. Each is decided on the state read under the rollout lock and written through the one safe-write
path before it is told, so a SIGKILL at any instant leaves the old state or the new one, and two evaluators
(a session ending, `rollout watch`, a `claude` start) never make the same transition twice. Each is an event,
a span and a `claude_docker_rollout_*` metric."""

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


def _told(transition: str, dep: dict, message: str, **fields) -> None:
    """The transition as an event, a span (its own trace, or the caller's TRACEPARENT) and metrics."""
    import os

    from claude_docker.obs import context, settings
    from claude_docker.obs.tracing import Tracer

    tracer = Tracer("rollout." + transition, os.environ.get("TRACEPARENT"))
    tracer.root.attributes.update({"claude_docker.deployment": dep["id"],
                                   "claude_docker.rollout.weight": float(dep["weight"]),
                                   "container.image.name": dep["candidate"]["image"]})
    saved = context.current().copy()
    context.bind(trace_id=tracer.trace_id, span_id=tracer.root.span_id)
    try:
        events.emit(f"rollout.{transition}", message, level="error" if transition == "rolled_back" else "info",
                    outcome="error" if transition == "rolled_back" else "ok",
                    fields={"deployment": dep["id"], "candidate": dep["candidate"]["image"],
                            "weight": dep["weight"], "step": dep["step"], **fields})
        observe("claude_docker_rollout_transitions_total", 1, transition=transition)
        live = transition not in ("promoted", "rolled_back")
        observe("claude_docker_rollout_canary_weight", float(dep["weight"]) if live else 0.0)
        observe("claude_docker_rollout_step", float(dep["step"]) if live else -1.0)
        tracer.root.end(error=message if transition == "rolled_back" else None)
        if settings.enabled():
            try:
                tracer.write(settings.traces_file())
            except Exception:  # noqa: BLE001 - a trace that can't be stored never stops a rollback
                pass
    finally:
        context.bind(trace_id=saved.get("trace_id"), span_id=saved.get("span_id"))


def start(candidate: dict, baseline: dict, plan: dict, mode: str, weight: float, smoke: str) -> dict:
    """A new deployment (none may be in progress); the state after."""
    now = time.time()
    with states.lock():
        state = states.load()
        if state["deployment"]:
            raise _in_progress(state["deployment"])
        dep: dict = {"id": new_id(now), "mode": mode, "candidate": candidate, "baseline": baseline, "plan": plan,
               "step": 0, "weight": weight, "started": now, "step_started": now, "failed_checks": 0,
               "failed_period": -1, "errors": 0, "smoke": smoke, "alerts": []}
        state["stable"] = baseline
        state["deployment"] = dep
        states.save(state)
    _told("started", dep, f"rollout of {candidate['image']} started at {plans.percent(weight)}",
          mode=mode, steps=plan["steps"])
    if mode == "manual" and weight >= 1.0:
        return promote(dep["id"], "the share was set to 100%")
    return state


def _in_progress(dep: dict) -> ToolError:
    from claude_docker import exitcodes

    return ToolError(f"a rollout of {dep['candidate']['image']} ({dep['id']}) is in progress at "
                     f"{plans.percent(dep['weight'])}: roll it back first (claude-docker rollout rollback)",
                     exitcodes.ROLLOUT_CONFLICT)


def set_share(candidate: dict, weight: float) -> dict:
    """The seed's manual step: the share of the deployment in progress moved by hand (1.0 promotes)."""
    from claude_docker import exitcodes

    with states.lock():
        state = states.load()
        dep = state["deployment"]
        if not dep or dep["candidate"]["id"] != candidate["id"]:
            raise ToolError("no rollout of that image is in progress", exitcodes.ROLLOUT_CONFLICT)
        if weight >= 1.0:
            pass  # promoted below, under its own lock
        else:
            dep.update(weight=weight, step_started=time.time(), failed_checks=0, failed_period=-1)
            states.save(state)
    if weight >= 1.0:
        return promote(dep["id"], "the share was set to 100%")
    _told("share_set", dep, f"the share of {candidate['image']} was set to {plans.percent(weight)}")
    return state


def promote(dep_id: str, reason: str) -> dict:
    """The candidate becomes the stable image; the previous stable is kept as the rollback target."""
    with states.lock():
        state = states.load()
        dep = state["deployment"]
        if not dep or dep["id"] != dep_id:
            return state  # another evaluator ended it first
        states.remember_good(state, dep["baseline"])
        state["stable"] = dep["candidate"]
        dep["weight"] = 1.0
        states.end_deployment(state, "promoted", reason)
        states.save(state)
    records.remove(dep_id)
    _told("promoted", dep, f"{dep['candidate']['image']} promoted to stable: {reason}")
    return state


def rollback(reason: str, dep_id: str | None = None, gate: str = "manual") -> dict | None:
    """Every new session on the stable image from the next `claude` start; sessions already on the candidate
    finish untouched. None when there is nothing (or no longer `dep_id`) to roll back."""
    with states.lock():
        state = states.load()
        dep = state["deployment"]
        if not dep or (dep_id and dep["id"] != dep_id):
            return None
        entry = states.end_deployment(state, "rolled_back", reason)
        states.save(state)
    records.remove(dep["id"])
    dep["weight"] = 0.0
    _told("rolled_back", dep, f"rollout of {dep['candidate']['image']} rolled back: {reason}", gate=gate)
    return entry


def back_to(image: dict, reason: str) -> dict:
    """`rollback --to previous`: a known-good image made stable at once, without analysis (Argo's rollback
    window); a deployment in progress is rolled back first."""
    rollback(reason)
    with states.lock():
        state = states.load()
        states.remember_good(state, state["stable"])
        state["stable"] = image
        state["known_good"] = [i for i in state["known_good"] if i["id"] != image["id"]]
        states.save(state)
    events.emit("rollout.restored", f"{image['image']} is stable again: {reason}", outcome="ok",
                fields={"image": image["image"], "id": image["id"]})
    observe("claude_docker_rollout_transitions_total", 1, transition="restored")
    return state


def analyze(dep: dict, now: float, persist: bool) -> tuple[list, dict]:
    """The gates over the deployment's window, from the persisted rollup and the lines after it."""
    plan = dep["plan"]
    rollup = records.load(dep["id"], plan)
    since = max(dep["step_started"], now - plan["window"])
    measured = records.fold(rollup, now - plan["window"] - plan["interval"])
    if persist and measured:
        try:
            records.save(rollup)
        except OSError:
            pass  # a cache: the next fold starts further back
    totals = records.window(rollup, dep["step"], since)
    found = analysis.gates(dep, totals, rollup["bounds"], now, measured)
    return found, totals


def evaluate(trigger: str, now: float | None = None, state: dict | None = None) -> str:
    """Analyze the deployment in progress (in `state`, as just read, or read now) and carry out what it asks;
    the action taken (analysis.HOLD when nothing changed, "none" with no deployment)."""
    now = time.time() if now is None else now
    state = state or states.load()
    dep = state["deployment"]
    if not dep:
        return "none"
    found, _ = analyze(dep, now, persist=True)  # (a start's skip test reads when the rollup was last judged)
    action = analysis.decide(dep, found, now)
    for gate in found:
        if gate.verdict != analysis.SKIPPED and (trigger != "start" or gate.verdict == analysis.FAIL):
            observe("claude_docker_rollout_gate_checks_total", 1, gate=gate.name, verdict=gate.verdict)
    failing = [g for g in found if g.verdict == analysis.FAIL]
    if action == analysis.ROLLBACK:
        reason = "; ".join(f"{g.name}: {g.detail}" for g in failing)
        for gate in failing:
            events.emit("rollout.gate", f"{gate.name} failed: {gate.detail}", level="warn", outcome="error",
                        fields={"deployment": dep["id"], "gate": gate.name, "trigger": trigger})
        if rollback(reason, dep["id"], gate=failing[0].name if failing else "failure_limit") is not None:
            print(f"claude-docker: rollout of {dep['candidate']['image']} rolled back: {reason}", file=sys.stderr)
        return action
    if action in (analysis.STEP, analysis.PROMOTE):
        if action == analysis.PROMOTE:
            promote(dep["id"], f"every step passed its gates ({', '.join(f'{s:g}%' for s in dep['plan']['steps'])})")
        else:
            _step(dep, now)
        return action
    if action in (analysis.COUNT_FAILURE, analysis.COUNT_ERROR) or (dep["errors"] and action == analysis.HOLD
                                                                    and _measured(found)):
        _count(dep, action, found, now)
    return action


def _measured(found: list) -> bool:
    return any(g.name == "measurement" and g.verdict == analysis.PASS for g in found)


def _step(dep: dict, now: float) -> None:
    with states.lock():
        state = states.load()
        live = state["deployment"]
        if not live or live["id"] != dep["id"] or live["step"] != dep["step"]:
            return
        live["step"] += 1
        live["weight"] = live["plan"]["steps"][live["step"]] / 100
        live.update(step_started=now, failed_checks=0, failed_period=-1, errors=0)
        states.save(state)
    _told("stepped", live, f"{live['candidate']['image']} moved to {plans.percent(live['weight'])}")


def _count(dep: dict, action: str, found: list, now: float) -> None:
    """A failed check (once per interval) or a measurement error counted; a good measurement resets the
    latter (they count in a row)."""
    with states.lock():
        state = states.load()
        live = state["deployment"]
        if not live or live["id"] != dep["id"] or live["step"] != dep["step"]:
            return
        if action == analysis.COUNT_FAILURE and live["failed_period"] != analysis.period(live, now):
            live["failed_checks"] += 1
            live["failed_period"] = analysis.period(live, now)
            for gate in found:
                if gate.verdict == analysis.FAIL:
                    events.emit("rollout.gate", f"{gate.name} failed: {gate.detail}", level="warn",
                                outcome="error", fields={"deployment": live["id"], "gate": gate.name,
                                                         "failed_checks": live["failed_checks"]})
        live["errors"] = live["errors"] + 1 if action == analysis.COUNT_ERROR else 0
        states.save(state)


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
