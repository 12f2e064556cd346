"""The alert state machine: Prometheus alerting-rule semantics (rules/alerting.go) over our own rules.

An element (a rule and the labels of one active series) that becomes active is pending from that time; it
fires once it has been active for the rule's `for` (at once when that is 0). A firing element whose
condition stops keeps firing until `keep_firing_for` has passed since the first evaluation that found it
inactive, then resolves. A pending element that goes inactive is dropped without a word; a resolved one is
kept 15 minutes (so `alert status` and late readers see it) and then forgotten; one that becomes active again
starts over at pending. The states live in a file, so the short processes that evaluate keep the `for`
clocks running between them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from claude_docker.alerting import files
from claude_docker.alerting.model import FIRING, RESOLVED, SEVERITIES, fingerprint
from claude_docker.fsio import write_atomic
from claude_docker.locking import state_lock

if TYPE_CHECKING:
    from collections.abc import Callable

    from claude_docker.alerting.rules import Rule

VERSION = 1
PENDING = "pending"
RESOLVED_RETENTION_S = 15 * 60.0  # Prometheus' resolvedRetention


@dataclass
class Transition:
    """An element that fired now, is still firing (`repeat`: for the notifier's repeat interval), or resolved
    now. `labels` are the element's own: the notifier adds alertname and severity."""

    rule: str
    severity: str
    labels: dict[str, str]
    state: str  # FIRING | RESOLVED
    value: float
    active_at: float
    fired_at: float
    resolved_at: float | None
    summary: str
    runbook: str
    repeat: bool = False


def _number(n: object) -> bool:
    return isinstance(n, (int, float)) and not isinstance(n, bool)


def _time(n: object) -> bool:
    return _number(n) and math.isfinite(n)  # type: ignore[arg-type]  # (a number, by _number)


def _element_problem(a: object) -> str:
    """What makes a stored element not one this version writes ("" if nothing): every field `_step` and
    `current` read, with its type. Those that may be missing are read with .get."""
    if not isinstance(a, dict) or not all(isinstance(a.get(k), str) for k in ("rule", "severity", "summary")) \
            or not isinstance(a.get("labels"), dict) or a.get("state") not in (PENDING, FIRING, RESOLVED) \
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in a["labels"].items()):
        return "an alert without a rule, labels or state"
    times = [a.get("active_at")] + [a.get(k) for k in ("fired_at", "resolved_at", "keep_firing_since")
                                    if a.get(k) is not None]
    if not (all(map(_time, times)) and _number(a.get("value"))
            and (a.get("for_s") is None or _number(a["for_s"]))):
        return f"the times of an alert of {a['rule']} are not numbers"
    if (a["state"] != PENDING and a.get("fired_at") is None) or (a["state"] == RESOLVED
                                                                 and a.get("resolved_at") is None):
        return f"an alert of {a['rule']} has no time for its state"
    return ""


def _load() -> dict[str, dict]:
    """The elements by id; none if there is no state. A damaged state is set aside: alerts then start over
    (a firing one fires again after its `for`), which is better than none ever firing again."""
    path = files.rule_state_file()
    try:
        data = json.loads(path.read_bytes())
        alerts = data.get("alerts") if isinstance(data, dict) and data.get("version") == VERSION else None
        problem = "not an alert rule state of this version" if not isinstance(alerts, dict) else next(
            (p for p in map(_element_problem, alerts.values()) if p), "")
    except FileNotFoundError:
        return {}
    except (ValueError, RecursionError) as exc:  # (UnicodeDecodeError too)
        problem = f"not JSON: {exc}"
    if problem:
        from claude_docker import damage

        damage.set_aside(path, problem, "alert states start over (a firing alert fires again after its `for`)")
        return {}
    assert isinstance(alerts, dict)
    return alerts


def _save(alerts: dict[str, dict]) -> None:
    write_atomic(files.rule_state_file(), json.dumps({"version": VERSION, "alerts": alerts}).encode())


def _transition(rule: Rule, a: dict, state: str, repeat: bool = False) -> Transition:
    """The element's own severity: an alert resolving after an override changed the rule's keeps the one it
    fired with (its identity, and what the notifier knows it by)."""
    return Transition(rule=rule.name, severity=a["severity"], labels=dict(a["labels"]), state=state,
                      value=a["value"], active_at=a["active_at"], fired_at=a["fired_at"],
                      resolved_at=a.get("resolved_at"), summary=rule.summary, runbook=rule.runbook, repeat=repeat)


def _step(rule: Rule, active: list[tuple[dict[str, str], float]], alerts: dict[str, dict],
          now: float) -> list[Transition]:
    """One evaluation of one rule, as Prometheus' AlertingRule.Eval does it."""
    found = set()
    for raw, value in active:
        labels = {str(k): str(v) for k, v in raw.items()}
        # The severity is part of the alert's identity, as in Prometheus (a label): an override changing it
        # resolves the old alert and starts the new one, never leaves the old one firing.
        ident = f"{rule.name}/{fingerprint({**labels, 'severity': rule.severity})}"
        found.add(ident)
        a = alerts.get(ident)
        if a is not None and a["state"] != RESOLVED:
            a["value"], a["keep_firing_since"] = float(value), None
            a["summary"], a["for_s"] = rule.summary, rule.for_s
        else:
            alerts[ident] = {"rule": rule.name, "labels": labels, "state": PENDING, "active_at": now,
                             "fired_at": None, "resolved_at": None, "keep_firing_since": None, "value": float(value),
                             "severity": rule.severity, "summary": rule.summary, "for_s": rule.for_s}
    out = []
    for ident in [i for i, a in alerts.items() if a["rule"] == rule.name]:
        a = alerts[ident]
        if ident not in found:
            keep = False
            if a["state"] == FIRING and rule.keep_firing_for_s > 0:
                if a.get("keep_firing_since") is None:
                    a["keep_firing_since"] = now
                keep = now - a["keep_firing_since"] < rule.keep_firing_for_s
            resolved_at = a.get("resolved_at")
            if a["state"] == PENDING or (a["state"] == RESOLVED and now - (resolved_at or now) > RESOLVED_RETENTION_S):
                del alerts[ident]
                continue
            if not keep:
                if a["state"] == FIRING:
                    a["state"], a["resolved_at"] = RESOLVED, now
                    out.append(_transition(rule, a, RESOLVED))
                continue
        if a["state"] == PENDING and now - a["active_at"] >= rule.for_s:
            a["state"], a["fired_at"] = FIRING, now
            out.append(_transition(rule, a, FIRING))
        elif a["state"] == FIRING:
            out.append(_transition(rule, a, FIRING, repeat=True))
    return out


def evaluate(rules: list, store, now: float, then: Callable[[list[Transition]], None] | None = None
             ) -> list[Transition]:
    """Evaluate every rule against `store` at `now`, advance the saved states, return the transitions. A rule
    that raises is skipped (one event) with its states left as they were; the others go on. Alerts of a rule
    no longer configured resolve now if they were firing, and are forgotten.

    `then` is given the transitions before the new states are saved (under the same lock): what it must not
    lose (the incidents, the outbox) is written first, so a pass killed or failing in between is evaluated
    again from the old states and its transitions come again (their consumers take a repeat as such)."""
    from claude_docker.obs import events

    with state_lock("alert-rules"):
        alerts = _load()
        before = json.dumps(alerts, sort_keys=True)
        out: list[Transition] = []
        for rule in rules:
            try:
                active = rule.evaluate(store, now)
            except Exception as exc:  # noqa: BLE001 - one broken rule must not silence the others
                events.emit("alert.rule_failed", f"alert rule {rule.name} could not be evaluated: {exc}",
                            level="warn", outcome="error", fields={"rule": rule.name})
                continue
            out.extend(_step(rule, active, alerts, now))
        names = {rule.name for rule in rules}
        for ident, a in list(alerts.items()):
            if a["rule"] not in names:
                if a["state"] == FIRING:
                    out.append(Transition(rule=a["rule"], severity=a["severity"], labels=dict(a["labels"]),
                                          state=RESOLVED, value=a["value"], active_at=a["active_at"],
                                          fired_at=a["fired_at"], resolved_at=now, summary=a["summary"], runbook=""))
                del alerts[ident]
        if then is not None:
            then(out)
        if json.dumps(alerts, sort_keys=True) != before:  # (a quiet pass writes nothing)
            _save(alerts)
    return out


def current() -> list[dict]:
    """The alerts now, most severe first: pending, firing, and resolved in the last 15 minutes."""
    with state_lock("alert-rules"):
        alerts = _load()
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(({"rule": a["rule"], "severity": a["severity"], "labels": dict(a["labels"]), "state": a["state"],
                    "active_at": a["active_at"], "fired_at": a.get("fired_at"), "resolved_at": a.get("resolved_at"),
                    "value": a["value"], "summary": a["summary"],
                    # when a pending alert fires if its condition holds (`alert watch` wakes then)
                    "fires_at": a["active_at"] + float(a.get("for_s") or 0.0) if a["state"] == PENDING else None}
                   for a in alerts.values()),
                  key=lambda a: (rank.get(a["severity"], len(rank)), a["rule"], sorted(a["labels"].items())))
