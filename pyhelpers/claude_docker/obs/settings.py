"""Where observability data goes: the seed's files by default, each overridable from the environment.

The append path (events, observations) runs thousands of times a second: its settings are plain strings,
derived once per distinct environment. Each is read through envspec: a value it doesn't accept is refused
(ToolError, one line naming the variable), never quietly replaced by the default.
"""

from __future__ import annotations

import os

from claude_docker import envspec

TYPE_CHECKING = False  # not typing's: its import is ~10 ms of log-event's budget (mypy knows the name)
if TYPE_CHECKING:
    from pathlib import Path

# (pathlib only inside the functions that build paths: see jsonl.py for why)

_sinks: dict = {}


def enabled() -> bool:
    return envspec.get("CLAUDE_DOCKER_OBSERVABILITY")


def sink(var: str, default_name: str) -> tuple[bool, str, int, int]:
    """(enabled, path, max bytes before rotation, rotated files kept) of a log.

    Read from the environment once per log and HOME: each os.environ lookup costs about a microsecond and
    a busy writer appends tens of thousands of records a second."""
    env = os.environ
    key = (var, env.get(var), env.get("HOME"))
    found = _sinks.get(key)
    if found is None:
        path = envspec.get(var) or os.path.join(envspec.home(), default_name)
        size, keep = envspec.get("CLAUDE_DOCKER_LOG_MAX_BYTES"), envspec.get("CLAUDE_DOCKER_LOG_KEEP")
        found = _sinks[key] = (enabled(), path, size, keep)
    return found


def events_sink() -> tuple[bool, str, int, int]:
    return sink("CLAUDE_DOCKER_EVENTS_FILE", ".claude-docker-events.jsonl")


def metrics_sink() -> tuple[bool, str, int, int]:
    return sink("CLAUDE_DOCKER_METRICS_FILE", ".claude-docker-metrics.jsonl")


def events_file() -> Path:
    from pathlib import Path

    return Path(events_sink()[1])


def metrics_file() -> Path:
    from pathlib import Path

    return Path(metrics_sink()[1])


def log_limits() -> tuple[int, int]:
    """(max bytes before rotation, rotated files kept)."""
    return events_sink()[2:]


def traces_dir() -> Path:
    from pathlib import Path

    raw = envspec.get("CLAUDE_DOCKER_TRACES_DIR")
    return Path(raw) if raw else Path(envspec.home()) / ".claude-docker-traces"


def traces_file() -> Path:
    return traces_dir() / "traces.jsonl"


def textfile() -> Path:
    """The node_exporter textfile (point --collector.textfile.directory at its folder)."""
    from pathlib import Path

    from claude_docker.paths import state_dir

    raw = envspec.get("CLAUDE_DOCKER_TEXTFILE_DIR")
    return (Path(raw) if raw else state_dir() / "textfile") / "claude_docker.prom"


def metric_state_file() -> Path:
    from claude_docker.paths import state_dir

    return state_dir() / "metrics" / "state.json"


def cursor_file(sink_name: str) -> Path:
    from claude_docker.paths import state_dir

    return state_dir() / "cursors" / f"{sink_name}.json"
