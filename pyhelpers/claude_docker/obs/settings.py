"""Where observability data goes: the seed's files by default, each overridable from the environment."""

from __future__ import annotations

import os
from pathlib import Path

from claude_docker.paths import home, state_dir


def _path(var: str, default: Path) -> Path:
    raw = os.environ.get(var)
    return Path(raw).expanduser() if raw else default


def enabled() -> bool:
    return os.environ.get("CLAUDE_DOCKER_OBSERVABILITY", "1").strip().lower() not in ("0", "off", "false", "no")


def events_file() -> Path:
    return _path("CLAUDE_DOCKER_EVENTS_FILE", home() / ".claude-docker-events.jsonl")


def metrics_file() -> Path:
    return _path("CLAUDE_DOCKER_METRICS_FILE", home() / ".claude-docker-metrics.jsonl")


def traces_dir() -> Path:
    return _path("CLAUDE_DOCKER_TRACES_DIR", home() / ".claude-docker-traces")


def traces_file() -> Path:
    return traces_dir() / "traces.jsonl"


def textfile() -> Path:
    """The node_exporter textfile (point --collector.textfile.directory at its folder)."""
    return _path("CLAUDE_DOCKER_TEXTFILE_DIR", state_dir() / "textfile") / "claude_docker.prom"


def metric_state_file() -> Path:
    return state_dir() / "metrics" / "state.json"


def cursor_file(sink: str) -> Path:
    return state_dir() / "cursors" / f"{sink}.json"


def log_limits() -> tuple[int, int]:
    """(max bytes before rotation, rotated files kept)."""
    from claude_docker.obs.jsonl import DEFAULT_KEEP, DEFAULT_MAX_BYTES

    try:
        size = int(os.environ.get("CLAUDE_DOCKER_LOG_MAX_BYTES") or DEFAULT_MAX_BYTES)
        keep = int(os.environ.get("CLAUDE_DOCKER_LOG_KEEP") or DEFAULT_KEEP)
    except ValueError:
        return DEFAULT_MAX_BYTES, DEFAULT_KEEP
    return max(size, 4096), max(keep, 1)
