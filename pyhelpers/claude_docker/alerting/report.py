"""What `alert status`, `alert rules` and doctor show: the data (for --json) and its lines."""

from __future__ import annotations

import time

from claude_docker.alerting import files, notice


def _when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def status() -> dict:
    """The alerts now, the outbox, open incidents, whether the desktop works, what alerting.toml gets wrong."""
    from claude_docker.alerting import evaluate, incidents, outbox, run

    _settings, _rules, problems = run.configured()
    waiting = outbox.undelivered()
    return {
        "alerts": evaluate.current(),
        "outbox": [{"id": e.note.id, "title": e.note.title, "target": e.shown, "attempts": e.attempts,
                    "next_try": e.next_try, "deadline": e.deadline, "last_error": e.detail} for e in waiting],
        "incidents_open": incidents.open_count(),
        "desktop_unavailable": (files.directory() / notice.MARKER).exists(),
        "problems": problems,
    }


def status_lines(found: dict) -> list[str]:
    """Lines for the terminal: every value made safe to show (ui.shown), the alerts as a table."""
    from claude_docker import ui

    lines = [f"{problem} (the defaults are used for it)" for problem in found["problems"]]
    table: list[str] = []
    alerts = found["alerts"]
    if alerts:
        rows = [[a["state"], a["severity"], a["rule"], ",".join(f"{k}={v}" for k, v in sorted(a["labels"].items())),
                 _when(a["resolved_at"] or a["fired_at"] or a["active_at"])] for a in alerts]
        table = ui.table(rows, ["STATE", "SEVERITY", "ALERT", "LABELS", "SINCE"]).splitlines()
    else:
        lines.append("no alert pending or firing")
    after = []
    if found["outbox"]:
        after.append(f"{len(found['outbox'])} notification(s) waiting in the outbox:")
        after += [f"  {e['title']} to {e['target']}: {e['attempts']} attempt(s), next at {_when(e['next_try'])}"
                  + (f" ({e['last_error']})" if e["last_error"] else "") for e in found["outbox"]]
    if found["incidents_open"]:
        after.append(f"{found['incidents_open']} incident(s) open: claude-docker incident list")
    if found["desktop_unavailable"]:
        after.append("desktop notifications don't work here: add another channel (docs/ALERTING.md)")
    return [*map(ui.shown, lines), *table, *map(ui.shown, after)]


def rule_json(rule) -> dict:
    from claude_docker.alerting.durations import format_duration

    return {"name": rule.name, "severity": rule.severity, "group": rule.group, "for": format_duration(rule.for_s),
            "keep_firing_for": format_duration(rule.keep_firing_for_s), "expr": rule.promql(),
            "evaluated": rule.evaluable, "summary": rule.summary, "runbook": rule.runbook}


def rules_table(rules: list) -> str:
    """A block per rule: name, severity, for; its PromQL indented; the defaults' rules turned off, named."""
    from claude_docker.alerting import rules as definitions

    out = []
    for rule in rules:
        data = rule_json(rule)
        timing = "" if not rule.for_s else f", for {data['for']}"
        where = "" if rule.evaluable else " (Prometheus only: the rollout's gates act on it themselves)"
        out.append(f"{rule.name}  {rule.severity}{timing}{where}")
        out += ["    " + line for line in data["expr"].strip().splitlines()]
    off = sorted({r.name for r in definitions.default_rules()} - {r.name for r in rules})
    if off:
        out.append("turned off in alerting.toml: " + ", ".join(off))
    return "\n".join(out) + "\n"


def doctor() -> tuple[str, str, str]:
    """(status, detail, fix) for doctor's alerts line."""
    found = status()
    firing = [a for a in found["alerts"] if a["state"] == "firing"]
    if found["problems"]:
        return "fail", found["problems"][0], f"fix {files.config_file()} (docs/ALERTING.md)"
    if firing:
        names = ", ".join(sorted({a["rule"] for a in firing}))
        return "warn", f"{len(firing)} alert(s) firing: {names}", "claude-docker alert status"
    if found["desktop_unavailable"]:
        return "warn", "alerts can't reach a desktop here", "add a channel in alerting.toml (docs/ALERTING.md)"
    if found["outbox"]:
        return "warn", f"{len(found['outbox'])} notification(s) not delivered yet", "claude-docker alert status"
    return "ok", "no alert firing", ""
