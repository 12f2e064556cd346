"""`rollout status`: the deployment, its stage and share, sessions per slot, error rate and p95 start per slot
over the window, each gate's verdict, when the next step is due, and the history, as data and as text."""

from __future__ import annotations

import time

from claude_docker.rollout import analysis, controller, records
from claude_docker.rollout import plan as plans
from claude_docker.rollout import state as states
from claude_docker.rollout.images import short


def report(now: float | None = None) -> dict:
    now = time.time() if now is None else now
    state = states.load()
    out: dict = {"stable": state["stable"], "known_good": state["known_good"], "history": state["history"],
                 "deployment": None}
    dep = state["deployment"]
    if dep:
        plan = dep["plan"]
        found, totals, scope = controller.analyze(dep, now, persist=False)
        edges = records.bounds(plan)
        slots = {}
        for slot, t in totals.items():
            slots[slot] = {"sessions": t.sessions, **t.by_class, "error_rate": round(t.error_rate(), 4),
                           "p95_start_seconds": t.p95(edges) if t.samples() else None}
        due = dep["step_started"] + plan["interval"] if dep["mode"] == "auto" else None
        out["deployment"] = {
            **{k: dep[k] for k in ("id", "mode", "candidate", "baseline", "weight", "step", "started",
                                   "step_started", "failed_checks", "smoke")},
            "alerts": dep.get("alerts", []), "plan": plan, "slots": slots,
            "scope": scope,
            "gates": [g.to_json() for g in found], "verdict": analysis.verdict(found),
            "next_step_due": due, "action": analysis.decide(dep, found, now),
        }
    return out


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


_MARK = {analysis.PASS: "ok", analysis.FAIL: "fail", analysis.INCONCLUSIVE: "warn", analysis.SKIPPED: "info"}


def lines(rep: dict, now: float | None = None) -> list[tuple[str, str | None]]:
    """(line, mark status or None) for people."""
    from claude_docker import ui

    now = time.time() if now is None else now
    dep = rep["deployment"]
    if dep:
        stable = f"{short(dep['baseline'])}: the v1 slot while this rollout lasts"
    else:
        stable = short(rep["stable"]) if rep["stable"] else "CLAUDE_DOCKER_IMAGE's (no rollout has promoted one)"
    out: list[tuple[str, str | None]] = [(f"stable      {stable}", None)]
    if not dep:
        out.append(("rollout     none in progress", None))
    else:
        plan = dep["plan"]
        out.append((f"rollout     {dep['id']} ({dep['mode']}): {short(dep['candidate'])}", None))
        steps = plan["steps"]
        stage = (f"step {dep['step'] + 1} of {len(steps)}" if dep["mode"] == "auto" else "set by hand")
        share = plans.percent(dep["weight"])
        since = _when(dep["step_started"])
        out.append((f"stage       {stage}: {share} of new sessions on the candidate, since {since}", None))
        if dep["next_step_due"] is not None:
            left = dep["next_step_due"] - now
            nxt = "promotion" if dep["step"] + 1 >= len(steps) else f"{steps[dep['step'] + 1]:g}%"
            when = f"in {plans.human_duration(left)}" if left > 0 else "now"
            out.append((f"next        {nxt} {when}, once the gates pass", None))
        checks = f"{dep['failed_checks']} failed of {plan['failure_limit']} allowed; smoke tests {dep['smoke']}"
        out.append((f"checks      {checks}", None))
        rows = [[slot, str(s["sessions"]), str(s["error"]), str(s["claude_error"]), str(s["interrupted"]),
                 plans.percent(s["error_rate"]),
                 "-" if s["p95_start_seconds"] is None else f"≤{s['p95_start_seconds']:g}s"]
                for slot, s in sorted(dep["slots"].items())]
        table = ui.table(rows, ["SLOT", "SESSIONS", "ERRORS", "CLAUDE-ERRORS", "INTERRUPTED", "ERROR-RATE",
                                "P95-START"])
        scope = (f"the last {plans.human_duration(plan['window'])} of this step" if dep["scope"] == "window" else
                 "the whole step" + (f" (fewer than {plan['min_sessions']} candidate sessions in the last "
                                     f"{plans.human_duration(plan['window'])})"
                                     if now - dep["step_started"] > plan["window"] else ""))
        out.append((f"judged      {scope}", None))
        out += [("  " + row, None) for row in table.splitlines()]
        out.append(("gates", None))
        out += [(f"  {g['name']:<12} {g['detail']}", _MARK[g["verdict"]]) for g in dep["gates"]]
        for alert in dep["alerts"]:
            out.append((f"  alert        {alert['severity']} {alert['name']} at {_when(alert['at'])}", "warn"))
    if rep["history"]:
        out.append(("history", None))
        for h in rep["history"]:
            out.append((f"  {_when(h['ended'])}  {h['outcome']:<11} {short(h['candidate'])}: {h['reason']}",
                        "ok" if h["outcome"] == "promoted" else "fail"))
    if rep["known_good"]:
        out.append((f"rollback to {short(rep['known_good'][0])} with `claude-docker rollout rollback --to previous`",
                    None))
    return out
