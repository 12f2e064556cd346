"""Per-sink read positions in the logs: what an exporter has delivered. Saved right after each delivery,
so what was sent is never sent again and what was not waits in the log (the log is the spool)."""

from __future__ import annotations

import json

from claude_docker.fsio import write_atomic
from claude_docker.obs import settings
from claude_docker.obs.jsonl import Cursor


def load(sink: str) -> Cursor:
    try:
        return Cursor.from_json(json.loads(settings.cursor_file(sink).read_bytes()))
    except (FileNotFoundError, ValueError):
        return Cursor()


def save(sink: str, cursor: Cursor) -> None:
    path = settings.cursor_file(sink)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path, json.dumps(cursor.to_json()).encode())
