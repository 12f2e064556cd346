"""The docker SDK client for the commands that need more than the hot path's preflight."""

from __future__ import annotations

from claude_docker import exitcodes
from claude_docker.errors import ToolError


def connect(timeout: int = 30):
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise ToolError(f"the Docker daemon is not reachable ({_first_line(exc)})", exitcodes.TOOL_FAILED) from None
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
