"""The container's environment: the user's variables passed by name, plus what ties Claude Code's own
telemetry to this run (W3C TRACEPARENT, OTEL_RESOURCE_ATTRIBUTES)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from claude_docker.container import default_env

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.paths import ClaudeHome


def _resource_attributes(existing: str, values: dict) -> str:
    """OTEL_RESOURCE_ATTRIBUTES for Claude Code's own telemetry: the user's, plus what ties it to this run."""
    ours = ",".join(f"{k}={quote(os.fsencode(str(v)), safe='')}" for k, v in values.items())
    return f"{existing},{ours}" if existing else ours


def session_env(user_home: Path, claude: ClaudeHome, traceparent: str, run_attributes: dict) -> dict[str, str]:
    env = default_env(user_home, claude.config_dir if claude.custom else None, os.environ)
    env["TRACEPARENT"] = traceparent
    env["OTEL_RESOURCE_ATTRIBUTES"] = _resource_attributes(os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""),
                                                           run_attributes)
    return env
