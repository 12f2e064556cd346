"""`claude-docker incident`: the incidents alerts opened, their timelines, and the user's ack and resolve."""

from __future__ import annotations

import click

from claude_docker import exitcodes

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def _when(epoch: float | None) -> str:
    import time

    return "" if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@click.group()
def cli() -> None:
    """Incidents: a high or critical alert opens one (or joins the open one for the same cause), its timeline
    gathers the alerts, the automatic actions (rollback, recovery, GitOps revert) and your ack and resolve; it
    closes by itself when its alerts resolve (docs/ALERTING.md)."""


@cli.command("list")
@click.option("--all", "include_resolved", is_flag=True, help="Resolved incidents too.")
@JSON_OPTION
def list_cmd(include_resolved: bool, as_json: bool) -> int:
    """One line per open incident (every one kept, with --all)."""
    from claude_docker import ui
    from claude_docker.alerting import incidents

    found = incidents.list_incidents(include_resolved)
    if as_json:
        ui.print_json({"incidents": [{k: v for k, v in i.items() if k != "timeline"} for i in found]})
    elif not found:
        print("no incidents" if include_resolved else "no open incidents")
    else:
        print(ui.table([[i["id"], i["status"], i["severity"], _when(i["opened_at"]), i["cause"], i["summary"]]
                        for i in found], ["ID", "STATUS", "SEVERITY", "OPENED", "CAUSE", "SUMMARY"]))
    return exitcodes.OK


@cli.command()
@click.argument("incident_id")
@JSON_OPTION
def show(incident_id: str, as_json: bool) -> int:
    """One incident and its timeline."""
    from claude_docker import ui
    from claude_docker.alerting import incidents

    incident = incidents.get(incident_id)
    if as_json:
        ui.print_json(incident)
        return exitcodes.OK
    ui.say(f"{incident['id']} [{incident['status']}] {incident['cause']} ({incident['severity']}): "
           f"{incident['summary']}")
    ui.say(f"opened {_when(incident['opened_at'])}"
           + (f", acknowledged {_when(incident['acked_at'])}" if incident["acked_at"] is not None else "")
           + (f", resolved {_when(incident['resolved_at'])} by {incident['resolved_by']}"
              if incident["resolved_at"] is not None else ""))
    print(ui.table([[_when(e["time"]), e["kind"], e["text"]] for e in incident["timeline"]],
                   ["TIME", "KIND", "WHAT"]))
    return exitcodes.OK


@cli.command()
@click.argument("incident_id")
def ack(incident_id: str) -> int:
    """Say you are on it: the time to acknowledge is recorded."""
    import sys
    import time

    from claude_docker import ui
    from claude_docker.alerting import incidents

    incident, changed = incidents.ack(incident_id, time.time())
    if changed:
        ui.say(f"{incident['id']} acknowledged", "ok")
    else:
        ui.say(f"{incident['id']} is {incident['status']} already: nothing to do", stream=sys.stderr)
    return exitcodes.OK


@cli.command()
@click.argument("incident_id")
@click.option("--note", default="", metavar="TEXT", help="What was done, for the timeline.")
def resolve(incident_id: str, note: str) -> int:
    """Close an incident yourself (it also closes by itself once its alerts resolve)."""
    import sys
    import time

    from claude_docker import ui
    from claude_docker.alerting import incidents

    incident, changed = incidents.resolve(incident_id, time.time(), note)
    if changed:
        ui.say(f"{incident['id']} resolved", "ok")
    else:
        ui.say(f"{incident['id']} is resolved already: nothing to do", stream=sys.stderr)
    return exitcodes.OK
