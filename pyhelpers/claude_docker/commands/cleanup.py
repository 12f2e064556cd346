"""`claude-docker cleanup`: remove orphaned containers and finish the sync of interrupted sessions (reaper.py)."""

from __future__ import annotations

import click

from claude_docker.commands.ps import all_users_option


@click.command()
@click.option("--dry-run", is_flag=True, help="Say what would be done, change nothing.")
@all_users_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def cli(dry_run: bool, all_users: bool, as_json: bool) -> int:
    """Remove containers whose wrapper is gone and sync back the config of their sessions.

    Only your own sessions are touched, and only those started on this host, in this PID namespace and
    since the last boot, whose wrapper process has exited: one started anywhere else may still be
    running. --all-users (root) removes other users' orphaned containers too; their session dirs stay
    theirs to sync back. A session that fails does not stop the others. Exit status 122 if something
    failed (a session's config could not be synced back: it is kept, marked with the reason, for another
    try; or a container could not be removed).
    """
    from claude_docker import dockerclient, exitcodes, reaper, ui
    from claude_docker.redact import printable

    actions = reaper.reap(dockerclient.connect(operation="cleanup"), all_users, dry_run)
    if as_json:
        ui.print_json({"dry_run": dry_run, "actions": actions})
    elif not actions:
        print("nothing to clean up")
    else:
        for a in actions:  # names and keys a session chose: never a raw control character to the terminal
            print(printable(_describe(a, "would " if dry_run else "")))
            for line in a.get("conflicts", []) + a.get("quarantined", []) + a.get("held", []):
                print(f"  {printable(line)}")
    return exitcodes.SYNC_FAILED if reaper.failed(actions) else exitcodes.OK


def _describe(a: dict, verb: str) -> str:
    if a["action"] == "remove-container":
        what = "egress sidecar" if a.get("role") == "egress" else "container"
        return f"{verb}remove orphaned {what} {a['container']}" + (f": {a['error']}" if "error" in a else "")
    if a["action"] == "sync-back":
        if "error" in a:
            return f"could not sync back session {a['session']}: {a['error']}"
        return f"{verb}sync back the config of interrupted session {a['session']}"
    if a["action"] == "finish-removal":
        return f"{verb}finish removing the dir of session {a['session']}"
    return f"{verb}remove the dir of session {a['session']}, killed before it started"
