"""A rollout's plan: the steps (percent of sessions on the candidate), how often and over what window the gates
are checked, and the gates' thresholds. Parsed from `rollout deploy`'s options; stored in the state file."""

from __future__ import annotations

STICKY = ("none", "user", "project")
DEFAULT_STEPS = (10.0, 50.0, 100.0)
MAX_STEPS = 100  # (a session's line has three digits for its step)
MAX_SESSIONS = 10 ** 9
# The seed's rollback triggers (error rate > 10 % over 5 minutes, p95 start > 15 s), Flagger's 60 s interval,
# Argo's failureLimit 0 (the first failed check rolls back) and consecutiveErrorLimit 4.
DEFAULTS = {
    "steps": DEFAULT_STEPS, "interval": 60.0, "window": 300.0, "min_sessions": 5, "max_error_rate": 0.10,
    "max_p95_start": 15.0, "baseline_margin": 0.05, "failure_limit": 0, "error_limit": 4,
    # Flagger and Argo give 600 s; a workstation runs a few sessions a day, so a step may rightly wait days for
    # its candidate sessions. Past a week it is stuck, and rolled back.
    "progress_deadline": 7 * 86400.0, "sticky": "none",
}
_DURATION = r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class PlanError(ValueError):
    """A plan value refused: the message says which and what it takes."""


def parse_steps(text: str) -> tuple[float, ...]:
    """`10,50,100` (a % sign allowed): percents in (0, 100], strictly increasing."""
    parts = [p.strip().removesuffix("%").strip() for p in text.split(",")]
    if not text.strip() or not all(parts):
        raise PlanError(f"--steps {text!r}: give percents separated by commas, such as 10,50,100")
    try:
        steps = tuple(float(p) for p in parts)
    except ValueError:
        raise PlanError(f"--steps {text!r}: each step is a number of percent, such as 10,50,100") from None
    if not all(0 < s <= 100 for s in steps):
        raise PlanError(f"--steps {text!r}: each step is a percent above 0 and at most 100")
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise PlanError(f"--steps {text!r}: the steps must increase (such as 1,10,50)")
    if len(steps) > MAX_STEPS:
        raise PlanError(f"--steps: at most {MAX_STEPS} steps")
    return steps


def parse_count(text: str, what: str, low: int, high: int) -> int:
    """A whole number from `low` to `high`."""
    try:
        value = int(text.strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise PlanError(f"{what} {text!r}: give a whole number from {low} to {high}")
    return value


def parse_duration(text: str, what: str) -> float:
    """`90`, `90s`, `5m`, `1.5h`, `500ms`: seconds, above 0."""
    import re  # (not at import: this module is on `claude`'s start under a rollout)

    found = re.fullmatch(_DURATION, text.strip())
    seconds = float(found.group(1)) * _UNITS[found.group(2) or "s"] if found else 0.0
    if seconds <= 0 or seconds > 365 * 86400:
        raise PlanError(f"{what} {text!r}: give a duration above 0 such as 30s, 5m or 1h")
    return seconds


def parse_share(text: str, what: str) -> float:
    """A share of sessions from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:  # (NaN fails this too)
        raise PlanError(f"{what} {text!r}: give a number from 0 to 1")
    return value


def make(**given) -> dict:
    """The plan: the defaults, with `given` values (already parsed) in place."""
    unknown = set(given) - set(DEFAULTS)
    if unknown:
        raise PlanError(f"unknown plan settings: {', '.join(sorted(unknown))}")
    plan = {**DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    plan["steps"] = list(plan["steps"])
    if not 1 <= int(plan["min_sessions"]) <= MAX_SESSIONS:
        raise PlanError(f"--min-sessions: give a number of sessions from 1 to {MAX_SESSIONS}")
    if not 0 <= int(plan["failure_limit"]) <= MAX_SESSIONS:
        raise PlanError(f"--failure-limit: give a number from 0 to {MAX_SESSIONS}")
    if plan["progress_deadline"] <= plan["interval"]:
        raise PlanError(f"--progress-deadline {human_duration(plan['progress_deadline'])}: a step could never pass; "
                        f"give more than the interval ({human_duration(plan['interval'])})")
    if plan["sticky"] not in STICKY:
        raise PlanError(f"--sticky {plan['sticky']!r}: give one of {', '.join(STICKY)}")
    return plan


def shortest_promotion(plan: dict) -> float:
    """Every step holds for one interval at least (Flagger: interval times steps)."""
    return plan["interval"] * len(plan["steps"])


def longest_rollback(plan: dict) -> float:
    """After a breach: at most one failed check per interval is counted, and the one past the failure limit rolls
    back (Flagger: interval times threshold), as long as something evaluates (a session ending, a start, `watch`)."""
    return plan["interval"] * (plan["failure_limit"] + 1)


def human_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{round(seconds, 1):g}s"
    if seconds < 7200:
        return f"{seconds / 60:g}m"
    if seconds < 172800:
        return f"{seconds / 3600:g}h"
    return f"{seconds / 86400:g}d"


def percent(share: float) -> str:
    return f"{share * 100:g}%"


def describe(plan: dict) -> list[str]:
    """What `deploy` prints before it starts."""
    steps = " → ".join(f"{s:g}%" for s in plan["steps"])
    first = (f"steps: {steps}, then promotion; each step held {human_duration(plan['interval'])} at least and "
             f"until {plan['min_sessions']} candidate session(s) ended in it")
    gates = (f"gates: error rate ≤ {percent(plan['max_error_rate'])} over {human_duration(plan['window'])}, "
             f"no worse than the stable's + {percent(plan['baseline_margin'])}, p95 start ≤ "
             f"{human_duration(plan['max_p95_start'])}, no critical alert, each step done within "
             f"{human_duration(plan['progress_deadline'])}")
    timing = (f"shortest time to promotion: {human_duration(shortest_promotion(plan))}; longest time to a "
              f"rollback after a breach: {human_duration(longest_rollback(plan))} (failure limit "
              f"{plan['failure_limit']})")
    return [first, gates, timing]
