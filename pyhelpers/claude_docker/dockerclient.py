"""The docker SDK client for the commands that need more than the hot path's preflight."""

from __future__ import annotations

from claude_docker import exitcodes
from claude_docker.errors import ToolError


def connect(timeout: int = 30, operation: str = "command"):
    """A connected client; a failure is one ToolError line, and recorded as a docker error of `operation`."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        message = f"the Docker daemon is not reachable ({_first_line(exc)})"
        from claude_docker.obs import events
        from claude_docker.obs.catalog import observe

        observe("claude_docker_docker_errors_total", 1, operation=operation)
        events.emit("docker.error", message, level="error", outcome="error", fields={"operation": operation})
        raise ToolError(message, exitcodes.TOOL_FAILED) from None
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
