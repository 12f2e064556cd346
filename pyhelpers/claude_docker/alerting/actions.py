"""The automatic actions other capabilities took, read from the event log for the incidents' timelines: a
rollout rolled back, a disaster recovery, a GitOps apply reverted. Read from a cursor of its own, so each
action is told once; a new install starts at the log's end (old actions belong to no incident)."""

from __future__ import annotations

import json

from claude_docker.obs import cursors, jsonl, settings

CURSOR = "alert-actions"


def kind_of(record: dict) -> str | None:
    """The action an event stands for, or None."""
    event = record.get("event")
    found = record.get("fields")
    fields = found if isinstance(found, dict) else {}
    if event == "rollout.rolled_back":
        return "rollback"
    if event == "disaster_recovery.end" and record.get("outcome") == "ok":
        return "recovery"
    if event == "gitops.reconcile.end" and fields.get("result") == "rolled-back":
        return "gitops-revert"
    return None


def new_actions() -> list[tuple[str, str]]:
    """(kind, message) of every action recorded since the last call."""
    log = settings.events_file()
    if not settings.cursor_file(CURSOR).exists():
        cursors.save(CURSOR, jsonl.end(log))
        return []
    found = jsonl.read_new(log, cursors.load(CURSOR, log))
    if not found:
        return []
    actions = []
    for line, _ in found:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        kind = kind_of(record) if isinstance(record, dict) else None
        if kind:
            actions.append((kind, str(record.get("message", ""))[:300]))
    cursors.save(CURSOR, found[-1][1])
    return actions
