"""`claude-docker log-event EVENT [KEY=VALUE...]`: what the `log_event` shell function calls."""

from __future__ import annotations

import click


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("event")
@click.argument("pairs", nargs=-1, type=click.UNPROCESSED)
def cli(event: str, pairs: tuple[str, ...]) -> int:
    """Append one structured event to the event log (~/.claude-docker-events.jsonl).

    \b
    KEY=VALUE pairs go under "fields", their values kept exactly (any bytes). Four keys set
    the event itself: level (debug, info, warn, error), message, outcome, duration_ms.
    The event joins the trace in TRACEPARENT when there is one (see `start_trace`).
    """
    from claude_docker.obs.events import from_shell

    from_shell(event, list(pairs))
    return 0
