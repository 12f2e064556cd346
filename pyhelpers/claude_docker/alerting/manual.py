"""The user's own alerts (`alert SEVERITY MESSAGE [key=value…]`, the seed's function) and `alert test`: built as
notifications and sent through the same pipeline as the rules' (dedup by labels, the hourly budget, the outbox),
delivered at once with a short budget so the command can say what became of it."""

from __future__ import annotations

import time
from types import SimpleNamespace

from claude_docker.alerting.model import MANUAL, Notification

SEND_BUDGET_S = 15.0


def _deliver(note: Notification, settings, now: float) -> dict:
    """Deliver what is due (this note among it); what became of this note, per target."""
    from claude_docker.alerting import dispatch, outbox

    wanting = [t for t in settings.targets if t.wants(note)]
    outcomes: dict[str, tuple[str, str]] = {}
    dispatch.deliver(settings, now, SEND_BUDGET_S, outcomes)
    ours = {outbox.target_id(t) for t in wanting}
    pending = sum(1 for e in outbox.undelivered() if e.note.id == note.id and e.target in ours)
    mine = [v for k, v in outcomes.items() if k.split("/")[0] == note.id]
    return {"targets": len(wanting), "delivered": sum(1 for o, _ in mine if o == "delivered"),
            "gave_up": [why for o, why in mine if o == "gave_up"], "pending": pending,
            "retrying": [why for o, why in mine if o == "retry"]}


def send(severity: str, message: str, labels: dict[str, str]) -> dict:
    """Notify; a high or critical one opens an incident (or joins the open one of that name). The report:
    delivered/pending/gave_up counts, or `throttled` (sent within the repeat interval) or `held` (the budget)."""
    from claude_docker.alerting import dispatch, incidents, run, throttle

    settings, _rules, problems = run.configured()
    now = time.time()
    labels = dict(labels)
    name = labels.pop("alertname", "UserAlert")
    note = Notification(id="", kind=MANUAL, labels={"alertname": name, "severity": severity, **labels},
                        summary=message, starts_at=run.utc(now))
    incidents.on_transitions([SimpleNamespace(rule=name, severity=severity, labels=labels, state="firing",
                                              value=None, summary=message, repeat=False)], now)
    made = [m for m in dispatch.notify([note], settings, now) if m.kind == MANUAL and m.labels == note.labels]
    report: dict = {"problems": problems}
    if not made:
        log = throttle.Log.load()
        told_now = (log.alerts.get(note.fingerprint) or {}).get("notified_at") == now
        if any(item.get("labels") == note.labels for item in log.held):
            report["held"] = 1
        elif told_now:  # decided, but no target takes it at its level
            report["targets"] = 0
        else:
            minutes = settings.repeat_s / 60
            report["throttled"] = f"the same alert ({name}, same labels) was sent less than {minutes:g} minutes ago"
        return report
    report.update(_deliver(made[0], settings, now))
    return report


def test(severity: str) -> dict:
    """A test notification to every target taking `severity`, whatever its escalation level; never throttled,
    never counted in the budget, never an incident."""
    import uuid
    from dataclasses import replace

    from claude_docker.alerting import outbox, run

    settings, _rules, problems = run.configured()
    now = time.time()
    note = Notification(id=uuid.uuid4().hex, kind=MANUAL,
                        labels={"alertname": "ClaudeDockerTest", "severity": severity},
                        summary="A test notification from claude-docker: this channel works.", starts_at=run.utc(now))
    wanting = [t for t in settings.targets if severity in t.severities]
    # Every level's targets: a test reaches the Slack and mail that escalation would bring in later.
    top = replace(note, escalation=max((t.escalation for t in wanting), default=0))
    outbox.enqueue(top, wanting, now, settings.deadline_s)
    report = {"problems": problems, **_deliver(top, settings, now)}
    return report
