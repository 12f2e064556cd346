"""Gauges the alert rules read as they are now rather than from the log: disk usage, exporter backlogs,
containers. Nothing records these as they change, and a stale value would keep an alert firing (or silent)
after the fact. Each is left out when it can't be read: a rule then sees no series, never a made-up zero.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _used_ratio(path: Path) -> float | None:
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


def _docker_info() -> dict | None:
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


def _backlogs() -> list[tuple[dict, float]]:
    from claude_docker.obs import cursors, datadog, jsonl, otlp, settings

    sinks = []
    if otlp.endpoint():
        sinks.append(("otlp", [(otlp.SINK, settings.traces_file())]))
    if datadog.configured():
        sinks.append(("datadog", [(datadog.LOGS, settings.events_file()), (datadog.METRICS, settings.metrics_file())]))
    found = []
    for name, logs in sinks:
        try:
            total = sum(jsonl.unread_bytes(log, cursors.load(sink, log)) for sink, log in logs)
        except OSError:
            continue
        found.append(({"sink": name}, float(total)))
    return found


def live_gauges() -> dict[str, list[tuple[dict, float]]]:
    """claude_docker_disk_usage_ratio{path=state|docker}, claude_docker_export_backlog_bytes{sink} for the
    configured exporters, claude_docker_containers{state=running|orphaned}. Never raises."""
    from claude_docker import engine
    from claude_docker.paths import state_dir

    gauges: dict[str, list[tuple[dict, float]]] = {}
    disk = []
    state = _used_ratio(state_dir())
    if state is not None:
        disk.append(({"path": "state"}, state))
    info = _docker_info()
    root = info.get("DockerRootDir") if info else None
    docker = _used_ratio(Path(root)) if isinstance(root, str) and root.startswith("/") else None
    if docker is not None:
        disk.append(({"path": "docker"}, docker))
    if disk:
        gauges["claude_docker_disk_usage_ratio"] = disk
    try:
        backlog = _backlogs()
    except Exception:  # noqa: BLE001 - a damaged exporter setting: flush and doctor say so; the gauge is left out
        backlog = []
    if backlog:
        gauges["claude_docker_export_backlog_bytes"] = backlog
    if info is not None or engine.socket_path() is None:  # an engine answered, or one the SDK finds its own way
        try:
            from claude_docker.obs.promstate import containers

            gauges["claude_docker_containers"] = [({"state": s}, n) for s, n in containers().items()]
        except Exception:  # noqa: BLE001 - no engine now: left out rather than reported as zero
            pass
    return gauges
