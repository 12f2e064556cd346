"""Fast checks that Docker can start a session: CLI present, daemon answering, image there.

This is the `claude` hot path, so it speaks HTTP/1.0 to the daemon's unix socket by hand (well under a
millisecond) instead of importing the docker SDK (~110 ms). Everything else uses the SDK. When the daemon
is not a local unix socket (tcp, ssh, a non-default context), the checks are left to the docker CLI.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.paths import home

TYPE_CHECKING = False  # not typing's import, on the hot path (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_SOCKET = "/var/run/docker.sock"
PREFLIGHT_TIMEOUT = 2.0


def which(program: str) -> str | None:
    for folder in os.get_exec_path():
        path = os.path.join(folder, program)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


def quote_ref(name: str) -> str:
    """Percent-encode an image reference for a URL path (keeps its `/`, `:` and `@`)."""
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/:@")
    return "".join(c if c in safe else "".join(f"%{b:02X}" for b in c.encode()) for c in name)


def docker_cli() -> str:
    path = which("docker")
    if not path:
        raise ToolError("the docker command is not on PATH: install Docker (e.g. apt-get install docker.io)",
                        exitcodes.TOOL_FAILED)
    return path


def socket_path(environ: Mapping[str, str] | None = None) -> str | None:
    """The local socket the docker CLI will use, or None when it resolves the daemon some other way."""
    env = os.environ if environ is None else environ
    host = env.get("DOCKER_HOST")
    if host:
        return host[len("unix://"):] if host.startswith("unix://") else None
    if env.get("DOCKER_CONTEXT", "default") not in ("", "default"):
        return None
    config = Path(env.get("DOCKER_CONFIG") or home() / ".docker") / "config.json"
    try:
        raw = config.read_bytes()
        if b'"currentContext"' in raw:
            import json

            if json.loads(raw).get("currentContext") not in (None, "", "default"):
                return None
    except (OSError, ValueError, AttributeError):
        pass
    return DEFAULT_SOCKET


def request(sock_path: str, path: str, timeout: float = PREFLIGHT_TIMEOUT, method: str = "GET",
            body: object = None) -> tuple[int, bytes]:
    """One HTTP/1.0 request, with `body` (if not None) sent as JSON; `timeout` bounds the whole exchange,
    however slowly the daemon trickles."""
    import time

    deadline = time.monotonic() + timeout
    payload, kind = b"", ""
    if body is not None:
        import json

        payload, kind = json.dumps(body).encode(), "Content-Type: application/json\r\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(f"{method} {path} HTTP/1.0\r\nHost: docker\r\n{kind}Content-Length: {len(payload)}\r\n\r\n".encode()
                  + payload)
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no complete answer in time")
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise OSError(f"unexpected answer from the Docker daemon: {head[:60]!r}") from None
    return status, body


def cli_failure(stderr: str) -> str:
    """The reason in the docker CLI's error output: its `docker: …` line, not the usage hint after it
    ("Run 'docker run --help' for more information")."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("docker: "):
            return line[len("docker: "):].replace("Error response from daemon: ", "", 1)
    useful = [line for line in lines if not line.startswith(("Run 'docker", "See 'docker"))]
    return useful[-1] if useful else ""


def sdk_address(environ: Mapping[str, str] | None = None) -> str:
    """Where the docker SDK connects (it knows DOCKER_HOST, not contexts), as people would name it."""
    host = (os.environ if environ is None else environ).get("DOCKER_HOST") or DEFAULT_SOCKET
    return host[len("unix://"):] if host.startswith("unix://") else host


def _root_cause(exc: BaseException) -> BaseException:
    """The OS error at the bottom of a failure to connect: the SDK wraps it in requests' and urllib3's
    exceptions (as a cause, or as an argument: `('Connection aborted.', PermissionError(13, ...))`)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if isinstance(current, (PermissionError, FileNotFoundError, ConnectionError, TimeoutError)):
            return current
        seen.append(current)
        todo += [e for e in (current.__cause__, current.__context__, *current.args)
                 if isinstance(e, BaseException) and e not in seen]
    return next((e for e in seen if "timeout" in type(e).__name__.lower()), exc)


def unreachable(where: str, exc: BaseException) -> ToolError:
    """The one diagnosis of a failure to reach the engine at `where` (a socket path or a URL), shared by
    `claude`, `health`, `doctor` and the SDK's commands: the problem and its fix, exit status 125."""
    cause = _root_cause(exc)
    if isinstance(cause, PermissionError):
        return ToolError(f"permission denied on the Docker socket {where}", exitcodes.TOOL_FAILED,
                         fix="add yourself to the docker group (sudo usermod -aG docker $USER, then log in again)")
    if isinstance(cause, TimeoutError) or "timeout" in type(cause).__name__.lower():
        return ToolError(f"the Docker daemon at {where} did not answer within {PREFLIGHT_TIMEOUT:g}s",
                         exitcodes.TOOL_FAILED, fix="check dockerd (its log, its load), or set DOCKER_HOST")
    return ToolError(f"the Docker daemon is not reachable at {where}", exitcodes.TOOL_FAILED,
                     fix="start dockerd (is it running?), or set DOCKER_HOST")


SHARED = "container:"


def missing_network(name: str) -> ToolError:
    if name.startswith(SHARED):
        return ToolError(f"CLAUDE_DOCKER_NETWORK={name!r}: no such container on the Docker engine to share the "
                         "network of", exitcodes.BAD_SETTING, fix="start that container, or use bridge, host or none")
    return ToolError(f"CLAUDE_DOCKER_NETWORK={name!r}: no such network on the Docker engine",
                     exitcodes.BAD_SETTING, fix="create it (docker network create), or use bridge, host or none")


# allowlist: a mode of ours (the session shares an egress sidecar's loopback-only network), no Docker network.
BUILTIN_NETWORKS = ("bridge", "host", "none", "default", "allowlist")


def network_lookup(name: str) -> str | None:
    """The engine API path of what a network setting names and must exist (a network, or the container whose
    network it shares); None for a built-in mode."""
    if name.startswith(SHARED):
        return "/containers/" + quote_ref(name[len(SHARED):]) + "/json"
    return None if name in BUILTIN_NETWORKS else "/networks/" + quote_ref(name)


def uid_mapping(info: dict) -> str:
    """How the daemon maps container uids to the host's: "direct", "rootless" or "userns" (userns-remap)."""
    options = " ".join(info.get("SecurityOptions") or [])
    if "name=rootless" in options:
        return "rootless"
    if "name=userns" in options:
        return "userns"
    return "direct"


def container_started_at(sock_path: str, name: str) -> float | None:
    """When the container started (Unix time), once it has; None before, or if it is gone already."""
    try:
        status, body = request(sock_path, f"/containers/{quote_ref(name)}/json", timeout=1.0)
        if status != 200:
            return None
        import json

        started = json.loads(body).get("State", {}).get("StartedAt", "")
    except (OSError, ValueError):
        return None
    if not started or started.startswith("0001-"):
        return None
    from claude_docker.obs.context import utc_seconds

    return utc_seconds(started)


def stop_container(sock_path: str, name: str, grace: int = 10) -> bool:
    """Stop a container (SIGTERM, then SIGKILL after `grace` s); True once it no longer runs."""
    try:
        status, _ = request(sock_path, f"/containers/{quote_ref(name)}/stop?t={grace}", timeout=grace + 10,
                            method="POST")
    except OSError:
        return False
    return status in (204, 304, 404)


class ImageMissing(ToolError):
    """The session's image is not there (a ToolError: 125 and one line, unless the caller can offer a build)."""


def preflight(image: str, network: str = "bridge", build: str = "claude-docker image build") -> tuple[str, dict]:
    """Raise ToolError (exit 125) with one clear line if a session could not start; else the uid mapping and
    the image's labels. A named network is looked up too: Docker's own refusal would come after the session
    dir and the sync. `build`: the command that makes the image, for the line that says it is missing."""
    docker_cli()
    sock = socket_path()
    if sock is None:
        return "direct", {}
    import json

    try:
        status, body = request(sock, "/info")  # doubles as the ping
        if status != 200:
            raise OSError(f"the daemon answered HTTP {status}")
        mapping = uid_mapping(json.loads(body))
        status, body = request(sock, "/images/" + quote_ref(image) + "/json")
        lookup = network_lookup(network)
        network_status = request(sock, lookup)[0] if lookup else 200
    except (OSError, ValueError) as exc:
        raise unreachable(sock, exc) from None
    if status == 404:
        raise ImageMissing(f"image {image} is not present: build it with `{build}`"
                           " (or pull it, or set CLAUDE_DOCKER_IMAGE)", exitcodes.TOOL_FAILED)
    if status != 200:
        raise ToolError(f"the Docker daemon answered HTTP {status} when asked for image {image}",
                        exitcodes.TOOL_FAILED)
    if network_status == 404:
        raise missing_network(network)
    try:
        labels = (json.loads(body).get("Config") or {}).get("Labels") or {}
    except (ValueError, AttributeError):
        labels = {}
    return mapping, labels if isinstance(labels, dict) else {}
