"""`claude-docker cleanup`: remove orphaned containers and finish the sync of interrupted sessions."""

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
    theirs to sync back. Exit status 122 if a session's config could not be synced back (it is kept for
    another try).
    """
    from claude_docker import dockerclient, exitcodes, inventory, ui
    from claude_docker.configsync import sync_out
    from claude_docker.errors import ToolError
    from claude_docker.liveness import host_name
    from claude_docker.orphans import remove_orphans
    import shutil

    from claude_docker.sessiondir import (REMOVING, SessionDir, abandoned_creations, all_sessions, interrupted,
                                          unfinished_removals)

    client = dockerclient.connect(operation="cleanup")
    live = inventory.sessions(client, all_users)
    actions: list[dict] = remove_orphans(client, live, dry_run)
    failed = any("error" in a for a in actions)
    still_running = {s.session for s in live if not s.orphaned}
    for session, manifest in interrupted(all_sessions(), host_name()):
        if session.session_id in still_running:
            continue
        if manifest.get("state") == "starting":
            # Killed before its container could start: the host was never touched, nothing to sync.
            actions.append({"action": "remove-unstarted", "session": session.session_id})
            if not dry_run:
                session.remove()
            continue
        action = {"action": "sync-back", "session": session.session_id, "state": manifest.get("state")}
        actions.append(action)
        if dry_run:
            continue
        try:
            report = sync_out(session, manifest)
        except ToolError as exc:  # (sync_out turns every failure into one; one session never stops the rest)
            session.update(state="sync-failed", error=exc.message)
            action["error"] = exc.message
            failed = True
            continue
        action["files"] = report.files
        action["conflicts"] = report.conflicts
        action["quarantined"] = report.quarantined
        action["held"] = report.held
        session.remove()
    for path in abandoned_creations():
        actions.append({"action": "remove-unstarted", "session": path.name})
        if not dry_run:
            SessionDir(path).remove()
    for path in unfinished_removals():
        actions.append({"action": "finish-removal", "session": path.name[len(REMOVING):]})
        if not dry_run:
            shutil.rmtree(path, ignore_errors=True)
    if not dry_run:
        from claude_docker.keptaside import prune_and_say

        prune_and_say()  # held/, quarantine/ and conflicts/ by age and count

    if not dry_run and actions:
        from claude_docker.obs import events
        from claude_docker.obs.catalog import observe

        removed = [a for a in actions if a["action"] == "remove-container" and "error" not in a]
        for _ in removed:
            observe("claude_docker_orphans_removed_total", 1)
        events.emit("cleanup", f"{len(actions)} action(s)", level="error" if failed else "info",
                    outcome="error" if failed else "ok",
                    fields={"removed_containers": len(removed),
                            "synced_back": sum(1 for a in actions if a["action"] == "sync-back" and "error" not in a),
                            "failed": sum(1 for a in actions if "error" in a)})
    if as_json:
        ui.print_json({"dry_run": dry_run, "actions": actions})
    elif not actions:
        print("nothing to clean up")
    else:
        verb = "would " if dry_run else ""
        for a in actions:
            if a["action"] == "remove-container":
                print(f"{verb}remove orphaned container {a['container']}" + (f": {a['error']}" if "error" in a else ""))
            elif a["action"] == "sync-back":
                if "error" in a:
                    print(f"could not sync back session {a['session']}: {a['error']}")
                else:
                    print(f"{verb}sync back the config of interrupted session {a['session']}")
                    for c in a.get("conflicts", []) + a.get("quarantined", []) + a.get("held", []):
                        print(f"  {c}")
            elif a["action"] == "finish-removal":
                print(f"{verb}finish removing the dir of session {a['session']}")
            else:
                print(f"{verb}remove the dir of session {a['session']}, killed before it started")
    return exitcodes.SYNC_FAILED if failed else exitcodes.OK
