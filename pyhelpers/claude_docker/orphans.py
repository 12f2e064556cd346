"""Containers whose `claude` wrapper is gone: removed by `cleanup`, and by disaster recovery before it
restores (a live orphan would write over the restored state). A session's egress sidecar is one of them
too, removed after the sessions: a session's container uses its sidecar's network namespace."""

from __future__ import annotations


def remove_orphans(client, live: list, dry_run: bool) -> list[dict]:
    """One action per orphaned container in `live` (inventory.sessions), with "error" where removal failed."""
    from docker.errors import APIError, NotFound

    from claude_docker.inventory import SESSION

    actions = []
    for s in sorted((s for s in live if s.orphaned), key=lambda s: s.role != SESSION):
        action = {"action": "remove-container", "session": s.session, "container": s.name, "role": s.role}
        actions.append(action)
        if dry_run:
            continue
        try:
            client.containers.get(s.name).remove(force=True)
        except NotFound:
            pass  # it ended (--rm) between the listing and now
        except APIError as exc:
            if exc.status_code == 409 and "already in progress" in str(exc.explanation or ""):
                continue  # --rm is removing it already
            action["error"] = str(exc.explanation or exc)
    return actions
