"""`claude-docker datadog send`: what the `send_to_datadog` shell function calls."""

from __future__ import annotations

import click


@click.group()
def cli() -> None:
    """Datadog export (DD_API_KEY, DD_SITE)."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def send(as_json: bool) -> int:
    """Send the events (as logs) and metric observations (as series) not yet sent.

    What can't be sent now stays spooled in the logs and goes with the next send; nothing is sent
    twice. Exit status 1 if something is left (the reason is printed; the API key never is).
    """
    from claude_docker import ui
    from claude_docker.obs import datadog

    report = datadog.send()
    if as_json:
        ui.print_json(report.to_json())
    else:
        ui.say(f"{report.logs_sent} log(s) and {report.metrics_sent} metric point(s) sent"
               + (f", {report.dropped} dropped (outside Datadog's time window or refused)" if report.dropped else ""))
    if report.error:
        ui.error(f"{report.error}; the rest stays spooled")
        return 1
    return 0
