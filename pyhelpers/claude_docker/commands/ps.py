"""`claude-docker ps`: the live sessions, and which are orphaned."""

from __future__ import annotations

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def cli(as_json: bool) -> int:
    """List claude-docker sessions: one container each, running or left behind."""
    from claude_docker import dockerclient, inventory, ui

    found = inventory.sessions(dockerclient.connect(operation="ps"))
    if as_json:
        ui.print_json([s.to_json() for s in found])
        return 0
    if not found:
        print("no claude-docker sessions")
        return 0
    rows = [[s.session, s.status + (" (orphaned)" if s.orphaned else ""), s.slot, s.image, s.started,
             str(s.wrapper_pid), s.project] for s in found]
    print(ui.table(rows, ["SESSION", "STATUS", "SLOT", "IMAGE", "STARTED", "WRAPPER", "PROJECT"]))
    return 0
