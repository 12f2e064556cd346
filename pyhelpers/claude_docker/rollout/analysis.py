"""The gates over one deployment's window, and what they mean for it (Flagger's and Argo's semantics, adapted
to a workstation in docs/ROLLOUT.md): too few sessions is inconclusive and holds, never promotes on silence; a
failed check counts against the failure limit; a log that can't be read counts as a measurement error, and
only more than `error_limit` of them in a row roll back."""

from __future__ import annotations

from claude_docker.rollout import plan as plans

TYPE_CHECKING = False
if TYPE_CHECKING:
    from claude_docker.rollout.records import Totals

PASS, FAIL, INCONCLUSIVE, SKIPPED = "pass", "fail", "inconclusive", "skipped"


class Gate:
    """One gate's verdict, and its detail for people. (A plain class: namedtuple's creation costs a `claude` start
    under a rollout a millisecond.)"""

    __slots__ = ("detail", "name", "verdict")

    def __init__(self, name: str, verdict: str, detail: str):
        self.name, self.verdict, self.detail = name, verdict, detail

    def to_json(self) -> dict:
        return {"name": self.name, "verdict": self.verdict, "detail": self.detail}


# What the state asks of the deployment after an analysis (controller.py carries it out).
HOLD, COUNT_FAILURE, COUNT_ERROR, STEP, PROMOTE, ROLLBACK = ("hold", "count_failure", "count_error", "step",
                                                            "promote", "rollback")


def gates(dep: dict, recent: dict[str, Totals], whole: dict[str, Totals], edges: list[float], now: float,
          measured: bool) -> list[Gate]:
    """Each gate over the last `window` of the step when that holds `min_sessions` candidate sessions (a busy
    team: a breach shows within minutes), else over the whole step (a workstation's few sessions a day)."""
    plan = dep["plan"]
    need = int(plan["min_sessions"])
    recent_enough = recent["v2"].sessions >= need
    scope = recent if recent_enough else whole
    where = f"over the last {plans.human_duration(plan['window'])}" if recent_enough else "over the step"
    v1, v2 = scope["v1"], scope["v2"]
    pct = plans.percent
    out = []
    # A burst in the window fails the gate even while the window is short of sessions: its errors over
    # `need` sessions (as if the rest had gone well) already pass the limit.
    burst = recent["v2"].errors / max(recent["v2"].sessions, need)
    if not recent_enough and burst > plan["max_error_rate"]:
        window = plans.human_duration(plan["window"])
        out.append(Gate("error_rate", FAIL, f"{recent['v2'].errors} of {recent['v2'].sessions} candidate sessions "
                                            f"failed over the last {window}: over {pct(plan['max_error_rate'])} "
                                            f"of {need} sessions"))
    elif v2.sessions < need:
        out.append(Gate("error_rate", INCONCLUSIVE, f"{v2.sessions} of {need} candidate sessions needed"))
    else:
        rate = v2.error_rate()
        limit = pct(plan["max_error_rate"])
        out.append(Gate("error_rate", FAIL if rate > plan["max_error_rate"] else PASS,
                        f"{pct(rate)} of {v2.sessions} candidate sessions failed {where} (limit {limit})"))
    if v2.sessions < need or v1.sessions < need:
        out.append(Gate("baseline", SKIPPED, f"needs {need} sessions on each slot ({v1.sessions} stable, "
                                             f"{v2.sessions} candidate)"))
    else:
        worse = v2.error_rate() - v1.error_rate()
        out.append(Gate("baseline", FAIL if worse > plan["baseline_margin"] else PASS,
                        f"candidate {pct(v2.error_rate())} vs stable {pct(v1.error_rate())} {where} "
                        f"(margin {pct(plan['baseline_margin'])})"))
    starts = recent["v2"] if recent["v2"].samples() >= need else whole["v2"]
    if starts.samples() < need:
        out.append(Gate("p95_start", INCONCLUSIVE, f"{starts.samples()} of {need} candidate starts needed"))
    else:
        p95 = starts.p95(edges)
        out.append(Gate("p95_start", FAIL if p95 > plan["max_p95_start"] else PASS,
                        f"p95 start ≤ {p95:g}s of {starts.samples()} (limit {plan['max_p95_start']:g}s)"))
    if dep["mode"] == "manual":
        out.append(Gate("deadline", SKIPPED, "a share set by hand has no deadline"))
    else:
        held = now - dep["step_started"]
        deadline = plans.human_duration(plan["progress_deadline"])
        out.append(Gate("deadline", FAIL if held > plan["progress_deadline"] else PASS,
                        f"step held {plans.human_duration(max(held, 0))} of {deadline}"))
    if measured:
        out.append(Gate("measurement", PASS, "session records read"))
    else:
        verdict = FAIL if dep["errors"] + 1 > plan["error_limit"] else INCONCLUSIVE
        out.append(Gate("measurement", verdict, f"session records unreadable ({dep['errors'] + 1} in a row, "
                                                f"limit {plan['error_limit']})"))
    return out


def verdict(found: list[Gate]) -> str:
    """The worst gate's (Argo: the run takes the worst status across metrics)."""
    seen = {g.verdict for g in found}
    return FAIL if FAIL in seen else INCONCLUSIVE if INCONCLUSIVE in seen else PASS


def period(dep: dict, now: float) -> int:
    """Which analysis interval of the step `now` falls in: one failed check is counted per interval."""
    return int(max(now - dep["step_started"], 0) // dep["plan"]["interval"])


def decide(dep: dict, found: list[Gate], now: float) -> str:
    """What the deployment does now. A manual deployment (the seed's CLAUDE_DOCKER_V2_PROBABILITY steps) is
    rolled back by failures like any other, but only a person moves its share."""
    plan = dep["plan"]
    overall = verdict(found)
    measurement = next(g for g in found if g.name == "measurement")
    if overall == FAIL:
        if measurement.verdict == FAIL or any(g.verdict == FAIL for g in found if g.name == "deadline"):
            return ROLLBACK
        if dep["failed_period"] == period(dep, now):
            return HOLD  # this interval's failure is counted already
        return ROLLBACK if dep["failed_checks"] + 1 > plan["failure_limit"] else COUNT_FAILURE
    if measurement.verdict != PASS:
        return COUNT_ERROR
    if overall == PASS and dep["mode"] == "auto" and now - dep["step_started"] >= plan["interval"]:
        return PROMOTE if dep["step"] + 1 >= len(plan["steps"]) else STEP
    return HOLD
