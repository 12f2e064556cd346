"""Facts about the machine read as they are now, not from the logs: the disk usage where the state and Docker's
data live, and the exporters' backlog (their spool). Nothing records these as they change, and a stale value
would keep an alert firing (or silent) after the fact. Each is left out when it can't be read: a reader then
sees no series, never a made-up zero. Exported with the other live gauges, and read by the alert rules.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def used_ratio(path: Path) -> float | None:
    """1 - available/size of the file system holding `path` (its nearest existing ancestor), as node_exporter's
    node_filesystem_avail_bytes / node_filesystem_size_bytes read it: blocks reserved for root count as used."""
    for candidate in (path, *path.parents):
        try:
            st = os.statvfs(candidate)
        except FileNotFoundError:
            continue
        except OSError:
            return None
        return 1.0 - st.f_bavail / st.f_blocks if st.f_blocks else None
    return None


def docker_info() -> dict | None:
    """The local engine's /info through its socket (not the SDK: that would record a docker error each time
    no engine runs); None without one."""
    from claude_docker import engine

    sock = engine.socket_path()
    if sock is None:
        return None
    try:
        status, body = engine.request(sock, "/info", timeout=3)
        info = json.loads(body) if status == 200 else None
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def export_backlogs() -> list[tuple[dict, float]]:
    """claude_docker_export_backlog_bytes{sink}: bytes of the logs past each configured exporter's cursors."""
    from claude_docker.errors import ToolError
    from claude_docker.obs import cursors, datadog, jsonl, otlp, settings

    sinks = []
    try:
        if otlp.endpoint():
            sinks.append(("otlp", [(otlp.SINK, settings.traces_file())]))
        if datadog.configured():
            sinks.append(("datadog", [(datadog.LOGS, settings.events_file()),
                                      (datadog.METRICS, settings.metrics_file())]))
    except ToolError:  # a refused exporter setting: flush and doctor say so; the gauge is left out
        return []
    found = []
    for name, logs in sinks:
        try:
            total = sum(jsonl.unread_bytes(log, cursors.load(sink, log)) for sink, log in logs)
        except OSError:
            continue
        found.append(({"sink": name}, float(total)))
    return found


def disk_usage(info: dict | None) -> list[tuple[dict, float]]:
    """claude_docker_disk_usage_ratio: path=state (the state dir's file system), path=docker (the DockerRootDir
    of the engine's `info`, when there is one)."""
    from claude_docker.paths import state_dir

    found = []
    state = used_ratio(state_dir())
    if state is not None:
        found.append(({"path": "state"}, state))
    root = info.get("DockerRootDir") if info else None
    docker = used_ratio(Path(root)) if isinstance(root, str) and root.startswith("/") else None
    if docker is not None:
        found.append(({"path": "docker"}, docker))
    return found
