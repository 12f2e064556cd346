"""`claude-docker alert`: the rules over what the tool records, their state, the channels, and the shell's
`alert SEVERITY MESSAGE [key=value…]` (docs/ALERTING.md)."""

from __future__ import annotations

import click

from claude_docker import exitcodes

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
SEVERITY = click.Choice(["critical", "high", "medium", "low"])
LABEL_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
MAX_MESSAGE = 2000


@click.group()
def cli() -> None:
    """Alerts: rules over what claude-docker records (sessions, syncs, backups, rollouts, GitOps, its own
    errors), sent to desktop, Slack, mail, Alertmanager or a webhook, throttled and escalated (docs/ALERTING.md).

    \b
    send SEVERITY MESSAGE [KEY=VALUE...]   your own alert, through the same pipeline (the shell's `alert`)
    status                                 the alerts pending, firing and recently resolved; the outbox
    rules [--prometheus]                   the rules in force (alerting.toml applied), or as a Prometheus file
    evaluate                               one pass now: evaluate, open incidents, notify
    watch                                  a pass whenever something is recorded (a service: contrib/systemd)
    targets                                the channels and the severities each gets
    test                                   a test notification to every channel
    """


def _labels(pairs: tuple[str, ...]) -> dict[str, str]:
    import re

    from claude_docker.errors import ToolError

    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(LABEL_NAME, name) or name == "severity" or not value.isprintable():
            raise ToolError(f"{pair.partition('=')[0]!r}: give KEY=VALUE (a label name: letters, digits, _; "
                            "not severity)", exitcodes.USAGE)
        labels[name] = value[:200]
    return labels


def _sent(report: dict) -> int:
    """One line for what became of a notification; the exit status."""
    from claude_docker import ui

    for problem in report.get("problems", []):
        ui.error(f"{problem} (the defaults are used for it)")
    if report.get("throttled"):
        ui.say(f"not sent again: {report['throttled']}")
        return exitcodes.OK
    if report.get("held"):
        ui.say("held back by the hourly limit: it goes out in the next digest")
        return exitcodes.OK
    if not report.get("targets"):
        ui.say("no channel takes this severity (`claude-docker alert targets`)", "warn")
        return exitcodes.ALERT_UNDELIVERED
    if report.get("delivered"):
        ui.say(f"sent to {report['delivered']} of {report['targets']} channel(s)", "ok")
    for why in report.get("gave_up", []):
        ui.say(f"not delivered: {why}", "fail")
    for why in report.get("retrying", []):
        ui.say(f"not delivered yet: {why}", "warn")
    if report.get("pending"):
        ui.say(f"{report['pending']} channel(s) did not take it now: retried from the outbox "
               "(`claude-docker alert status`)", "warn")
    return exitcodes.OK if report.get("delivered") else exitcodes.ALERT_UNDELIVERED


@cli.command()
@click.argument("severity", type=SEVERITY)
@click.argument("message")
@click.argument("labels", nargs=-1, metavar="[KEY=VALUE]...")
def send(severity: str, message: str, labels: tuple[str, ...]) -> int:
    """Send your own alert. KEY=VALUE pairs become its labels (alertname=NAME names it; the label set is what
    deduplicates it). A high or critical one opens an incident. Exit 15 when no channel took it now."""
    from claude_docker.alerting import manual
    from claude_docker.errors import ToolError

    if not message.strip() or len(message) > MAX_MESSAGE:
        raise ToolError(f"give a message of 1 to {MAX_MESSAGE} characters", exitcodes.USAGE)
    return _sent(manual.send(severity, message, _labels(labels)))


@cli.command()
@JSON_OPTION
def status(as_json: bool) -> int:
    """The alerts now (pending, firing, resolved in the last 15 minutes), the outbox, open incidents."""
    from claude_docker import ui
    from claude_docker.alerting import report

    found = report.status()
    if as_json:
        ui.print_json(found)
        return exitcodes.OK
    for line in report.status_lines(found):
        print(line)  # (the lines are built from shown values: a table's lines, each made safe for the terminal)
    return exitcodes.OK


@cli.command()
@click.option("--prometheus", is_flag=True, help="The rules as a Prometheus rule file (YAML).")
@JSON_OPTION
def rules(prometheus: bool, as_json: bool) -> int:
    """The rules in force: the defaults with alerting.toml's [rules] applied."""
    import sys

    from claude_docker import ui
    from claude_docker.alerting import config, report
    from claude_docker.alerting import rules as definitions
    from claude_docker.alerting.promrules import render_prometheus

    found = definitions.load_rules(config.load().rules)
    if prometheus:
        sys.stdout.write(render_prometheus(found))
        return exitcodes.OK
    if as_json:
        ui.print_json([report.rule_json(r) for r in found])
        return exitcodes.OK
    sys.stdout.write(report.rules_table(found))
    return exitcodes.OK


@cli.command()
@click.option("--quiet", is_flag=True, help="Say nothing (the background pass).")
@JSON_OPTION
def evaluate(quiet: bool, as_json: bool) -> int:
    """One pass now: evaluate the rules, keep incidents, notify, deliver what waits in the outbox."""
    from claude_docker import ui
    from claude_docker.alerting import run

    found = run.run()
    if as_json:
        ui.print_json(found)
    elif not quiet:
        if found.get("busy"):
            ui.say("another pass is running; it goes round again for what was recorded meanwhile")
        for problem in found.get("problems", []):
            ui.error(problem)
        if not found.get("busy"):
            delivery = found.get("delivery") or {}
            ui.say(f"{found['transitions']} alert change(s); {delivery.get('delivered', 0)} notification(s) sent, "
                   f"{delivery.get('pending', 0)} waiting in the outbox")
    return exitcodes.ALERT_CONFIG if found.get("problems") else exitcodes.OK


@cli.command()
@click.option("--interval", default="5s", show_default=True, metavar="DURATION",
              help="A pass at least this often (sooner when something is recorded).")
def watch(interval: str) -> int:
    """Evaluate whenever something is recorded, and every interval; one watcher at a time; SIGTERM stops it.
    Run it as a systemd user service (contrib/systemd/claude-docker-alert.service)."""
    from claude_docker.alerting import watch as watcher
    from claude_docker.alerting.durations import parse_duration
    from claude_docker.errors import ToolError

    try:
        seconds = parse_duration(interval)
    except ValueError:
        raise ToolError(f"--interval {interval!r}: give a duration such as 15s or 1m", exitcodes.USAGE) from None
    if not 1 <= seconds <= 3600:
        raise ToolError(f"--interval {interval!r}: give 1s to 1h", exitcodes.USAGE)
    return watcher.run(seconds)


@cli.command()
@JSON_OPTION
def targets(as_json: bool) -> int:
    """The channels (secrets hidden), the severities each gets and the escalation level it joins at."""
    from claude_docker import ui
    from claude_docker.alerting import config
    from claude_docker.alerting.model import SEVERITIES

    found = config.load()
    rows = [{"target": t.shown, "severities": [s for s in SEVERITIES if s in t.severities],
             "escalation": t.escalation} for t in found.targets]
    if as_json:
        ui.print_json(rows)
        return exitcodes.OK
    print(ui.table([[t.shown, ",".join(s for s in SEVERITIES if s in t.severities), str(t.escalation)]
                    for t in found.targets], ["TARGET", "SEVERITIES", "FROM LEVEL"]))
    return exitcodes.OK


@cli.command()
@click.option("--severity", type=SEVERITY, default="low", show_default=True)
def test(severity: str) -> int:
    """Send a test notification to every channel that takes SEVERITY (never throttled, never an incident)."""
    from claude_docker.alerting import manual

    return _sent(manual.test(severity))
