"""One pass of the alert pipeline: catch the rollup up, evaluate the rules, keep incidents, call the rollout's
rollback hook for a critical alert, then throttle into the outbox and deliver.

A pass runs detached after every session and operation (inside the background flush) and in `alert watch`;
never two at once. A pass that finds another running leaves a mark, and the running one goes round again, so
what was recorded while it read is never left for the next session to notice.
"""

from __future__ import annotations

import time
import uuid

from claude_docker import locking
from claude_docker.alerting import files
from claude_docker.alerting.model import FIRING, RESOLVED, Notification
from claude_docker.errors import ToolError, describe
from claude_docker.obs import events

MAX_ROUNDS = 5


def utc(epoch: float | None) -> str:
    """An epoch as the notifications carry times (ISO 8601 UTC with milliseconds, as the logs' `time`)."""
    if not epoch:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


def configured():
    """(settings, rules, problems): a malformed file is one line each, and the pass goes on with the defaults
    for what it could not read (the user's alerts still reach the environment's targets, or the desktop)."""
    from claude_docker.alerting import config, rules

    problems = []
    try:
        settings = config.load()
    except ToolError as exc:
        problems.append(exc.message)
        settings = config.fallback()
    try:
        found = rules.load_rules(settings.rules)
    except ToolError as exc:
        problems.append(exc.message)
        found = rules.default_rules()
    return settings, found, problems


def notification(t) -> Notification:
    """A transition of the evaluator as the notification the user gets."""
    from claude_docker.alerting.templates import expand

    labels = {"alertname": t.rule, "severity": t.severity, **t.labels}
    return Notification(id=uuid.uuid4().hex, kind=FIRING if t.state == "firing" else RESOLVED, labels=labels,
                        summary=expand(t.summary, labels, t.value), runbook=expand(t.runbook, labels, t.value),
                        starts_at=utc(t.fired_at or t.active_at), ends_at=utc(t.resolved_at), value=t.value)


def _rollback_hook(transitions: list) -> None:
    """A critical alert firing rolls the rollout in progress back (its events reach the incident): at every pass
    while it fires, so a rollout started meanwhile, or a hook that failed once, is rolled back all the same."""
    for t in transitions:
        if t.state == "firing" and t.severity == "critical":
            try:
                from claude_docker.rollout import controller

                controller.alert(t.rule, "critical")
            except Exception as exc:  # noqa: BLE001 - a damaged rollout state: rollout status says so; alerts go on
                events.emit("alert.rollback_failed", f"{t.rule}: {getattr(exc, 'message', exc)}", level="error")


def _record_problems(problems: list[str]) -> None:
    """An `alert.config_invalid` event per problem when it first appears (not at every pass of `alert watch`)."""
    from claude_docker import fsio

    path = files.directory() / "config-problems"
    text = "\n".join(problems)
    try:
        told = fsio.read_capped(path, 1 << 16).decode("utf-8", "replace")
    except OSError:
        told = ""
    if text == told:
        return
    for problem in problems:
        events.emit("alert.config_invalid", problem, level="error")
    try:
        if problems:
            fsio.write_atomic(path, text.encode(), 0o600)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass  # (told again at the next pass: better than never)


def _round(now: float, deliver: bool) -> dict:
    from claude_docker.alerting import actions, dispatch, evaluate, gauges, incidents
    from claude_docker.alerting.rollup import Rollup

    settings, rules, problems = configured()
    _record_problems(problems)
    rollup = Rollup.load()
    read = rollup.catch_up()
    rollup.add_live(gauges.live_gauges())
    rollup.save()

    def consume(transitions: list) -> None:  # (before the evaluator's states are saved: nothing is lost)
        # Read before the hook too: a first pass starts the actions' cursor at the log's end, and the rollback
        # its own hook makes must come after that start to reach the incident.
        told = actions.new_actions()
        _rollback_hook(transitions)
        try:
            incidents.on_transitions(transitions, now)
            for kind, message in told + actions.new_actions():
                incidents.record_action(kind, message, now)
        except (ToolError, OSError) as exc:  # (an incident store that can't be written: the user is still told)
            why = exc.message if isinstance(exc, ToolError) else describe(exc)
            events.emit("alert.incidents_failed", f"incidents not recorded: {why}", level="error")
        dispatch.notify([notification(t) for t in transitions], settings, now)

    transitions = evaluate.evaluate(rules, rollup, now, then=consume)
    report = {"records": read, "transitions": len(transitions), "problems": problems}
    if deliver:
        report["delivery"] = dispatch.deliver(settings, now)
    _observe(rollup)
    return report


def _observe(rollup) -> None:
    """The pipeline's own gauges (alerts firing, the outbox, open incidents) into the metrics log, when they
    changed: exported with the rest, and never a new record per pass (which would wake `alert watch` again)."""
    from claude_docker.alerting import evaluate, incidents, outbox
    from claude_docker.alerting.model import SEVERITIES
    from claude_docker.obs.catalog import observe

    firing = [a["severity"] for a in evaluate.current() if a["state"] == "firing"]
    values: list[tuple[str, dict[str, str], float]] = [
        ("claude_docker_alerts_firing", {"severity": s}, float(firing.count(s))) for s in SEVERITIES]
    values.append(("claude_docker_outbox_pending", {}, float(len(outbox.undelivered()))))
    values.append(("claude_docker_incidents_open", {}, float(incidents.open_count())))
    for name, labels, value in values:
        if next((v for seen, v in rollup.gauge(name, 0.0) if seen == labels), None) != value:
            observe(name, value, **labels)


def run(now: float | None = None, deliver: bool = True) -> dict:
    """One pass (more while others asked for one meanwhile); {"busy": True} when another pass runs."""
    locks = files.directory()
    again = locks / "pass-again"
    report: dict = {"busy": True}
    for _ in range(MAX_ROUNDS):
        fd = locking.try_lock(locks / "pass.lock")
        if fd is None:
            again.touch()
            # The running pass may have looked for the mark just before it: if it is gone now, go round here.
            fd = locking.try_lock(locks / "pass.lock")
            if fd is None:
                return report
        try:
            again.unlink(missing_ok=True)
            report = _round(time.time() if now is None else now, deliver)
        finally:
            locking.unlock(fd)
        # A pass that came while this one ran (even after its last look, before the unlock) left the mark.
        if not again.exists():
            break
    return report
