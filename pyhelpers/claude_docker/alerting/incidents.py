"""Incidents: what the user deals with, rather than each alert apart (docs/ALERTING.md).

A high or critical alert that starts firing opens an incident, or joins the open one for the same cause (its
alertname); alerts of lower severity only join one already open. The timeline gathers the alerts firing and
resolving, the automatic actions taken meanwhile (a rollback, a recovery, a GitOps revert) and the user's ack
and resolve. An incident closes by itself once every alert that joined it has resolved; if its cause fires
again (high or critical) within REOPEN_WITHIN, that incident reopens rather than a new one opening, so a
flapping alert makes one incident. Time to acknowledge and to resolve are metrics.

One JSON file, rewritten whole under the "incidents" lock; a damaged one is set aside and the store starts anew.
"""

from __future__ import annotations

import json
import math
import re

from claude_docker import exitcodes
from claude_docker.alerting import files
from claude_docker.alerting.model import SEVERITIES, fingerprint
from claude_docker.errors import ToolError
from claude_docker.locking import state_lock

OPENS = ("critical", "high")  # severities that open an incident; the others only join one
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
STATUSES = (OPEN, ACKNOWLEDGED, RESOLVED)
KEEP_RESOLVED = 200  # closed incidents kept for `incident list --all`; the oldest go first
REOPEN_WITHIN = 15 * 60  # seconds after its alerts closed it that an incident reopens when its cause fires again
_ID = re.compile(r"(?:inc-?)?0*(\d{1,9})", re.IGNORECASE)


def is_open(incident: dict) -> bool:
    return incident["status"] != RESOLVED


def on_transitions(transitions: list, now: float) -> list[dict]:
    """Fold the evaluator's transitions into the incidents; the incidents this opened (for the notifier)."""
    opened: list[dict] = []
    news = [t for t in transitions if not getattr(t, "repeat", False)]  # (a repeat changes nothing here)
    if not news:
        return opened  # a quiet pass writes nothing
    with state_lock("incidents"):
        store = _load()
        for t in news:
            if t.state == "firing":
                _firing(store, t, now, opened)
            elif t.state == "resolved":
                _resolved(store, t, now)
        _save(store)
    for incident in opened:
        _opened(incident)
    return opened


def record_action(kind: str, message: str, now: float) -> None:
    """An automatic action (`rollback`, `recovery`, `gitops`) onto every open incident's timeline."""
    from claude_docker import redact

    with state_lock("incidents"):
        store = _load()
        touched = [i for i in store["incidents"] if is_open(i)]
        for incident in touched:
            _note(incident, now, kind, redact.text(message))
        if touched:
            _save(store)


def list_incidents(include_resolved: bool = False) -> list[dict]:
    """The incidents open now (or every one kept), oldest first."""
    with state_lock("incidents"):
        store = _load()
    return [i for i in store["incidents"] if include_resolved or is_open(i)]


def open_count() -> int:
    return len(list_incidents())


def get(incident_id: str) -> dict:
    """The incident named `incident_id` ("INC-0007", "inc-7" or "7"); ToolError(INCIDENT_UNKNOWN) if none."""
    with state_lock("incidents"):
        store = _load()
    return _find(store, incident_id)


def ack(incident_id: str, now: float) -> tuple[dict, bool]:
    """Acknowledge: the incident, and whether this changed it (False: acknowledged or closed already)."""
    with state_lock("incidents"):
        store = _load()
        incident = _find(store, incident_id)
        if incident["status"] != OPEN:
            return incident, False
        incident["status"], incident["acked_at"] = ACKNOWLEDGED, now
        _note(incident, now, "ack", "acknowledged by the user")
        _save(store)
    _observe("claude_docker_incident_ack_seconds", incident, now)
    _event("incident.ack", incident, f"{incident['id']} acknowledged")
    return incident, True


def resolve(incident_id: str, now: float, note: str = "") -> tuple[dict, bool]:
    """Close by the user's word: the incident, and whether this changed it (False: closed already)."""
    with state_lock("incidents"):
        store = _load()
        incident = _find(store, incident_id)
        if not is_open(incident):
            return incident, False
        incident["note"] = note
        _close(incident, now, "user", "resolved by the user" + (f": {note}" if note else ""))
        _save(store)
    return incident, True


def _firing(store: dict, t, now: float, opened: list[dict]) -> None:
    cause, key = t.rule, _alert_key(t)
    incident = next((i for i in store["incidents"] if is_open(i) and i["cause"] == cause), None)
    if incident is not None and incident["alerts"].get(key, {}).get("state") == "firing":
        return  # told already (a pass that failed after this is evaluated again: its transitions come twice)
    if incident is None:
        if t.severity not in OPENS:
            return
        incident = _reopened(store, cause, t, now)
    if incident is None:
        store["next"] += 1
        incident = {"id": f"INC-{store['next']:04d}", "cause": cause, "severity": t.severity, "status": OPEN,
                    "summary": _clean(t.summary), "opened_at": now, "acked_at": None, "resolved_at": None,
                    "resolved_by": None, "note": "", "alerts": {}, "timeline": []}
        store["incidents"].append(incident)
        opened.append(incident)
    elif _rank(t.severity) < _rank(incident["severity"]):
        incident["severity"] = t.severity
    incident["alerts"][key] = {"labels": _labels(t), "severity": t.severity, "state": "firing"}
    _note(incident, now, "alert", f"{cause} firing ({t.severity}){_shown_labels(t)}: {_clean(t.summary)}")


def _reopened(store: dict, cause: str, t, now: float) -> dict | None:
    """The cause's latest incident, open again, if its alerts closed it less than REOPEN_WITHIN ago."""
    latest = next((i for i in reversed(store["incidents"]) if i["cause"] == cause), None)
    if (latest is None or latest["resolved_by"] != "alerts" or latest["resolved_at"] is None
            or not 0 <= now - latest["resolved_at"] < REOPEN_WITHIN):
        return None
    closed_for = now - latest["resolved_at"]
    latest["status"], latest["acked_at"], latest["resolved_at"], latest["resolved_by"] = OPEN, None, None, None
    _note(latest, now, "reopen", f"reopened: {cause} firing ({t.severity}) again {closed_for:.0f}s after it closed")
    _event("incident.reopen", latest, f"{latest['id']} reopened: {cause} ({t.severity})", level="warn")
    return latest


def _resolved(store: dict, t, now: float) -> None:
    key = _alert_key(t)
    for incident in store["incidents"]:
        alert = incident["alerts"].get(key)
        if not is_open(incident) or alert is None or alert["state"] == "resolved":
            continue
        alert["state"] = "resolved"
        _note(incident, now, "alert", f"{t.rule} resolved{_shown_labels(t)}")
        if all(a["state"] == "resolved" for a in incident["alerts"].values()):
            _close(incident, now, "alerts", "every alert resolved: closed")


def _close(incident: dict, now: float, by: str, text: str) -> None:
    incident["status"], incident["resolved_at"], incident["resolved_by"] = RESOLVED, now, by
    _note(incident, now, "resolve", text)
    _observe("claude_docker_incident_resolve_seconds", incident, now)
    _event("incident.resolve", incident, f"{incident['id']} ({incident['cause']}) {text}")


def _opened(incident: dict) -> None:
    from claude_docker.obs.catalog import observe

    observe("claude_docker_incidents_total", 1, severity=incident["severity"])
    _event("incident.open", incident, f"{incident['id']} opened: {incident['cause']} ({incident['severity']})",
           level="warn")


def _event(name: str, incident: dict, message: str, level: str = "info") -> None:
    from claude_docker.obs import events

    events.emit(name, message, level=level, fields={"incident": incident["id"], "cause": incident["cause"],
                                                    "severity": incident["severity"]})


def _observe(metric: str, incident: dict, now: float) -> None:
    from claude_docker.obs.catalog import observe

    observe(metric, max(0.0, now - incident["opened_at"]))


def _note(incident: dict, now: float, kind: str, text: str) -> None:
    incident["timeline"].append({"time": now, "kind": kind, "text": text})


def _labels(t) -> dict[str, str]:
    return {str(k): str(v) for k, v in (t.labels or {}).items() if k not in ("alertname", "severity")}


def _alert_key(t) -> str:
    """One alert: its rule and labels, not its severity (an override may change that between two runs)."""
    return fingerprint({**_labels(t), "alertname": t.rule})


def _shown_labels(t) -> str:
    labels = _labels(t)
    return " [" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "]" if labels else ""


def _clean(text: str) -> str:
    from claude_docker import redact

    return redact.text(text or "")


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _find(store: dict, incident_id: str) -> dict:
    m = _ID.fullmatch(incident_id.strip())
    wanted = f"INC-{int(m.group(1)):04d}" if m else None
    found = next((i for i in store["incidents"] if i["id"] == wanted), None)
    if found is None:
        raise ToolError(f"no incident {incident_id!r} (see `claude-docker incident list --all`)",
                        exitcodes.INCIDENT_UNKNOWN)
    return found


def _empty() -> dict:
    return {"version": 1, "next": 0, "incidents": []}


def _load() -> dict:
    path = files.incidents_file()
    try:
        store = json.loads(path.read_bytes())
    except FileNotFoundError:
        return _empty()
    except (OSError, ValueError, RecursionError) as exc:
        return _damaged(path, f"unreadable: {exc}")
    problem = _problem(store)
    return _damaged(path, problem) if problem else store


def _damaged(path, why: str) -> dict:
    from claude_docker import damage

    damage.set_aside(path, why, "incidents start anew")
    return _empty()


def _problem(store: object) -> str:
    """What makes `store` not one this module wrote; "" if nothing. Every field anything here or `incident`
    reads is checked, with its type: a store that passes never raises later."""
    if not (isinstance(store, dict) and type(store.get("next")) is int and isinstance(store.get("incidents"), list)):
        return "not an incident store"
    for i in store["incidents"]:
        if not _is_incident(i):
            return "an incident in it is not one this version writes"
    return ""


def _is_incident(i: object) -> bool:
    strings = ("id", "cause", "severity", "summary", "note")
    return (isinstance(i, dict) and all(isinstance(i.get(k), str) for k in strings)
            and i.get("status") in STATUSES and _is_time(i.get("opened_at"))
            and all(i.get(k) is None or _is_time(i[k]) for k in ("acked_at", "resolved_at"))
            and (i.get("resolved_by") is None or isinstance(i["resolved_by"], str))
            and isinstance(i.get("alerts"), dict) and isinstance(i.get("timeline"), list)
            and all(isinstance(a, dict) and a.get("state") in ("firing", "resolved")
                    and isinstance(a.get("labels"), dict) and isinstance(a.get("severity"), str)
                    for a in i["alerts"].values())
            and all(isinstance(e, dict) and _is_time(e.get("time")) and isinstance(e.get("kind"), str)
                    and isinstance(e.get("text"), str) for e in i["timeline"]))


def _is_time(value: object) -> bool:
    """An epoch time that can be shown (time.gmtime refuses NaN, infinities and years past 9999)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and 0 <= value < 253402300800)


def _save(store: dict) -> None:
    from claude_docker import fsio

    closed = [i for i in store["incidents"] if not is_open(i)]
    drop = {id(i) for i in closed[:max(0, len(closed) - KEEP_RESOLVED)]}
    store["incidents"] = [i for i in store["incidents"] if id(i) not in drop]
    fsio.write_atomic(files.incidents_file(), json.dumps(store, indent=1).encode(), 0o600)
