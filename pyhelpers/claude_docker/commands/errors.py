"""`claude-docker errors`: the helper's own bugs as errortrack recorded them, grouped by fingerprint."""

from __future__ import annotations

import click

from claude_docker import exitcodes


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Show this many groups, the latest seen first.")
def cli(as_json: bool, limit: int) -> int:
    """Unexpected errors of claude-docker itself, one line per kind (same exception at the same place): how
    often, when first and last, in which commands and versions. Home paths and secrets are already masked:
    safe to paste into a bug report. Tracebacks are in the state dir's crash.log."""
    import sys

    from claude_docker import ui
    from claude_docker.errortrack import groups

    found, skipped = groups(limit)
    if skipped:
        ui.say(f"warning: {skipped} unreadable line(s) of the error log skipped", stream=sys.stderr)
    if as_json:
        ui.print_json({"errors": found})
    elif not found:
        print("no errors recorded")
    else:
        print(ui.table([[g["fingerprint"], str(g["count"]), g["first_seen"], g["last_seen"], ",".join(g["commands"]),
                         ",".join(g["versions"]), f"{g['type']}: {g['message']}"[:100],
                         " < ".join(f"{f[1]}" for f in reversed(g["frames"][-3:]))] for g in found],
                       ["FINGERPRINT", "COUNT", "FIRST", "LAST", "COMMAND", "VERSION", "ERROR", "WHERE"]))
    return exitcodes.OK
