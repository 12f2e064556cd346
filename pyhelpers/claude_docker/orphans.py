"""Containers whose `claude` wrapper is gone: removed by `cleanup`, and by disaster recovery before it
restores (a live orphan would write over the restored state)."""

from __future__ import annotations


def remove_orphans(client, live: list, dry_run: bool) -> list[dict]:
    """One action per orphaned container in `live` (inventory.sessions), with "error" where removal failed."""
    from docker.errors import APIError, NotFound

    actions = []
    for s in live:
        if not s.orphaned:
            continue
        action = {"action": "remove-container", "session": s.session, "container": s.name}
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
