"""Per-sink read positions in the logs: what an exporter has delivered. Saved right after each delivery,
so what was sent is never sent again and what was not waits in the log (the log is the spool).

A cursor file that doesn't parse is set aside (damage.py) and the sink resumes at the log's end: starting
over would send everything again (duplicates in Datadog or a trace backend, which can't be taken back),
while what may be skipped is at most what the log got since the cursor's last save (docs/MONITORING.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from claude_docker.fsio import write_atomic
from claude_docker.obs import jsonl, settings


def load(sink: str, log: Path) -> jsonl.Cursor:
    """The sink's position in `log`: the start for a new sink, the log's end for one whose cursor is damaged."""
    path = settings.cursor_file(sink)
    try:
        return jsonl.Cursor.from_json(json.loads(path.read_bytes()))
    except FileNotFoundError:
        return jsonl.Cursor()
    except (ValueError, RecursionError) as exc:  # (UnicodeDecodeError too; nested past any cursor)
        from claude_docker import damage

        resumed = jsonl.end(log)
        damage.set_aside(path, str(exc), f"{sink} resumes at the end of {log} (nothing is sent twice; what it "
                                         "got since the cursor's last save is not sent)")
        save(sink, resumed)
        return resumed


def save(sink: str, cursor: jsonl.Cursor) -> None:
    path = settings.cursor_file(sink)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(path, json.dumps(cursor.to_json()).encode())
