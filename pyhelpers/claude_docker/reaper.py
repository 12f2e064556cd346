"""What interrupted sessions leave behind, finished: `claude-docker cleanup`'s algorithm.

Orphaned containers are removed, then each session whose wrapper is gone is synced back (or, killed before
its container started, just removed), then half-made and half-removed session dirs are deleted. Each
session is on its own: one that fails, in any way, is marked `sync-failed` with its reason and kept for
another try, and the rest still get theirs. A damaged manifest is set aside by the listing (sessiondir).
"""

from __future__ import annotations

from claude_docker.sessiondir import SessionDir


def reap(client, all_users: bool, dry_run: bool) -> list[dict]:
    """One action per thing found (dicts with "action", "session", and "error" where it failed)."""
    from claude_docker import inventory
    from claude_docker.liveness import host_name
    from claude_docker.orphans import remove_orphans
    from claude_docker.sessiondir import (
        REMOVING,
        abandoned_creations,
        all_sessions,
        finish_removal,
        interrupted,
        unfinished_removals,
    )

    live = inventory.sessions(client, all_users)
    actions: list[dict] = remove_orphans(client, live, dry_run)
    still_running = {s.session for s in live if not s.orphaned}
    for session, manifest in interrupted(all_sessions(), host_name()):
        if session.session_id not in still_running:
            actions.append(_finish(session, manifest, dry_run))
    for path in abandoned_creations():
        actions.append({"action": "remove-unstarted", "session": path.name})
        if not dry_run:
            SessionDir(path).remove()
    for path in unfinished_removals():
        actions.append({"action": "finish-removal", "session": path.name[len(REMOVING):]})
        if not dry_run:
            finish_removal(path)
    if not dry_run:
        from claude_docker.keptaside import prune_and_say

        prune_and_say()  # what is kept aside (held/, quarantine/, conflicts/, damaged/) by age and count
    if not dry_run and actions:
        _record(actions)
    return actions


def failed(actions: list[dict]) -> bool:
    return any("error" in a for a in actions)


def _finish(session: SessionDir, manifest: dict, dry_run: bool) -> dict:
    if manifest["state"] == "starting":
        # Killed before its container could start: the host was never touched, nothing to sync.
        if not dry_run:
            session.remove()
        return {"action": "remove-unstarted", "session": session.session_id}
    from claude_docker.errors import ToolError
    from claude_docker.launcher.syncout import sync_out

    action: dict = {"action": "sync-back", "session": session.session_id, "state": manifest["state"]}
    if dry_run:
        return action
    try:
        report = sync_out(session, manifest)
    except ToolError as exc:
        return _failed(session, action, exc.message)
    except Exception as exc:  # noqa: BLE001 (a bug met on this one session's data: the others still get their turn)
        from claude_docker.cli import save_crash

        return _failed(session, action, f"internal error ({type(exc).__name__}: {exc}); details in {save_crash()}")
    action.update(files=report.files, conflicts=report.conflicts, quarantined=report.quarantined, held=report.held)
    session.remove()
    return action


def _failed(session: SessionDir, action: dict, reason: str) -> dict:
    from claude_docker.errors import describe

    action["error"] = reason
    try:
        session.update(state="sync-failed", error=reason)
    except OSError as exc:  # (a full disk) unmarked, it is still interrupted: the next cleanup retries it
        action["error"] += f"; it could not be marked as failed either ({describe(exc)})"
    except ValueError:
        pass  # its manifest was damaged meanwhile: the next listing sets it aside
    return action


def _record(actions: list[dict]) -> None:
    from claude_docker.obs import events
    from claude_docker.obs.catalog import observe

    removed = [a for a in actions if a["action"] == "remove-container" and "error" not in a]
    for _ in removed:
        observe("claude_docker_orphans_removed_total", 1)
    bad = failed(actions)
    events.emit("cleanup", f"{len(actions)} action(s)", level="error" if bad else "info",
                outcome="error" if bad else "ok",
                fields={"removed_containers": len(removed),
                        "synced_back": sum(1 for a in actions if a["action"] == "sync-back" and "error" not in a),
                        "failed": sum(1 for a in actions if "error" in a)})
