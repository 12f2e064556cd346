"""The docker SDK client for the commands that need more than the hot path's preflight."""

from __future__ import annotations

from claude_docker import engine, exitcodes
from claude_docker.errors import ToolError


def connect(timeout: int = 30, operation: str = "command"):
    """A connected client; a failure is one ToolError line (engine.unreachable's diagnosis when the engine
    can't be reached), and recorded as a docker error of `operation`."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        error = _diagnose(exc)
        _record(operation, error.message)
        raise error from None
    return client


def _diagnose(exc: BaseException) -> ToolError:
    from docker.errors import APIError, TLSParameterError

    if isinstance(exc, APIError):  # it answered, with an error
        return ToolError(f"the Docker daemon answered: {_first_line(exc)}", exitcodes.TOOL_FAILED)
    if isinstance(exc, TLSParameterError):
        return ToolError(f"cannot connect to Docker: {_first_line(exc)}", exitcodes.TOOL_FAILED)
    return engine.unreachable(engine.sdk_address(), exc)


def _record(operation: str, message: str) -> None:
    from claude_docker.obs import events
    from claude_docker.obs.catalog import observe

    try:
        observe("claude_docker_docker_errors_total", 1, operation=operation)
        events.emit("docker.error", message, level="error", outcome="error", fields={"operation": operation})
    except ToolError:
        pass  # a refused observability setting (reported by itself): the engine's failure is the news here


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
