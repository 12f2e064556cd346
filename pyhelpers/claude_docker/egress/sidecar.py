"""The egress sidecar: a container of the forwarder image with no network but its own loopback
(NetworkMode none), whose network namespace the session joins (`--network container:<sidecar>`). Its socat
listens on 127.0.0.1:PORT there and carries each connection to the proxy's unix socket, in the one host
directory it mounts (read-only). It gets no capability at all, runs as the user, writes nowhere.

Everything goes over the engine's raw HTTP API (engine.request): this is on the session's start path, where
the docker SDK's import alone would cost more than the whole start of the sidecar.
"""

from __future__ import annotations

from claude_docker import engine, exitcodes
from claude_docker.container import ROLE_LABEL
from claude_docker.egress import forwarder
from claude_docker.errors import ToolError

TYPE_CHECKING = False  # not typing's import, on the hot path (mypy knows the name)
if TYPE_CHECKING:
    from pathlib import Path

ROLE = "egress"
# Each connection is one forked socat: at most MAX_CHILDREN at once, more wait in the listen backlog rather
# than failing (a fork refused by the pids limit would end the listener, and the session's egress with it).
MAX_CHILDREN = 96
PIDS_LIMIT = MAX_CHILDREN + 8
MEMORY = 64 << 20
HALF_CLOSE_WAIT = 60  # long enough for a slow answer, short enough that a client that never closes frees its slot
BUFFER = 65536  # socat's -b: bytes per read; its default, 8 KiB, costs throughput on large downloads
READY_TIMEOUT = 3.0
API_TIMEOUT = 10.0  # create and start: the engine may be busy with other containers
# socat's listening socket as /proc/<pid>/net/tcp shows it: 127.0.0.1:PORT, state 0A (LISTEN).
LISTENING = (f"0100007F:{forwarder.PORT:04X}", "0A")


def name_for(session_container: str) -> str:
    return f"{session_container}-egress"


def command() -> list[str]:
    socket = f"{forwarder.SOCKET_DIR_IN}/{forwarder.SOCKET_NAME}"
    # -t: after one side ends, how long the other may still answer (socat's default, 0.5 s, cuts off a
    # server answering a client that half-closed).
    return ["-b", str(BUFFER), "-t", str(HALF_CLOSE_WAIT),
            f"TCP-LISTEN:{forwarder.PORT},bind=127.0.0.1,fork,reuseaddr,max-children={MAX_CHILDREN}",
            f"UNIX-CONNECT:{socket}"]


def create_body(socket_dir: Path, uid: int, gid: int, host_userns: bool, labels: dict[str, str]) -> dict:
    """The engine's container-create request for one sidecar."""
    host_config: dict = {
        "NetworkMode": "none", "AutoRemove": True, "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"],
        "ReadonlyRootfs": True, "PidsLimit": PIDS_LIMIT, "Memory": MEMORY, "LogConfig": {"Type": "none"},
        "Mounts": [{"Type": "bind", "Source": str(socket_dir), "Target": forwarder.SOCKET_DIR_IN,
                    "ReadOnly": True}],
    }
    if host_userns:
        host_config["UsernsMode"] = "host"
    return {"Image": forwarder.IMAGE, "Entrypoint": [forwarder.PROGRAM], "Cmd": command(), "User": f"{uid}:{gid}",
            "Labels": {**labels, ROLE_LABEL: ROLE}, "HostConfig": host_config}


def start(name: str, socket_dir: Path, uid: int, gid: int, host_userns: bool, labels: dict[str, str]) -> None:
    """Start the sidecar `name` and return once socat listens; ToolError (one line) otherwise, with nothing
    left behind. The forwarder image must be there (forwarder.ensure)."""
    sock = forwarder.engine_socket()
    quoted = engine.quote_ref(name)
    created = False
    try:
        status, body = _call(sock, f"/containers/create?name={quoted}", "POST",
                             create_body(socket_dir, uid, gid, host_userns, labels))
        if status != 201:
            raise ToolError(f"could not create the egress sidecar {name}: {_reason(status, body)}",
                            exitcodes.TOOL_FAILED)
        created = True
        status, body = _call(sock, f"/containers/{quoted}/start", "POST")
        if status not in (204, 304):
            raise ToolError(f"could not start the egress sidecar {name}: {_reason(status, body)}",
                            exitcodes.TOOL_FAILED)
        _wait_listening(sock, name)
    except BaseException:
        if created:
            _remove(sock, quoted)
        raise


def stop(name: str) -> None:
    """Stop it (AutoRemove then removes it); one already gone (404) or not running (409) is fine. SIGTERM,
    which socat exits on: the engine answers a SIGKILL only once the container is gone, ~70 ms later."""
    sock = forwarder.engine_socket()
    status, body = _call(sock, f"/containers/{engine.quote_ref(name)}/kill?signal=TERM", "POST")
    if status not in (204, 404, 409):
        raise ToolError(f"could not stop the egress sidecar {name}: {_reason(status, body)}", exitcodes.TOOL_FAILED)


def _wait_listening(sock: str, name: str) -> None:
    """Poll the kernel's table of socat's network namespace until it listens (a few ms after start): the
    session's first request must not find nothing on the port. An engine whose processes this PID namespace
    can't see (a VM, another PID namespace) leaves only the container's state to go by."""
    import time

    quoted = engine.quote_ref(name)
    deadline = time.monotonic() + READY_TIMEOUT
    pid = 0
    pause = 0.002
    while time.monotonic() < deadline:
        if not pid:
            state = _state(sock, quoted)
            if not state.get("Running"):
                raise ToolError(f"the egress sidecar {name} exited at once (is {forwarder.IMAGE} broken? remove it "
                                "with `docker image rm` and it is built again)", exitcodes.TOOL_FAILED)
            pid = int(state.get("Pid") or 0)
            if not _ours(pid):
                return
        listening = _listening(pid)
        if listening:
            return
        if listening is None:  # the process is gone: its container's state says how, next time round
            pid = 0
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    raise ToolError(f"the egress sidecar {name} did not listen on 127.0.0.1:{forwarder.PORT} within "
                    f"{READY_TIMEOUT:g}s", exitcodes.TOOL_FAILED)


def _ours(pid: int) -> bool:
    """Is `pid`, as this PID namespace numbers it, the sidecar's socat?"""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return pid > 0 and f.read().split(b"\0", 1)[0] == forwarder.PROGRAM.encode()
    except OSError:
        return False


def _listening(pid: int) -> bool | None:
    """Does socat listen yet? None once the process is gone."""
    try:
        with open(f"/proc/{pid}/net/tcp") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return None
    return any(tuple(line.split()[1:4:2]) == LISTENING for line in lines)


def _state(sock: str, quoted: str) -> dict:
    try:
        status, body = engine.request(sock, f"/containers/{quoted}/json")
        if status != 200:
            return {}
        import json

        state = json.loads(body).get("State")
    except (OSError, ValueError, AttributeError):
        return {}
    return state if isinstance(state, dict) else {}


def _remove(sock: str, quoted: str) -> None:
    try:
        engine.request(sock, f"/containers/{quoted}?force=1", timeout=API_TIMEOUT, method="DELETE")
    except OSError:
        pass  # AutoRemove removes it once it stops; nothing else to do with an engine that stopped answering


def _call(sock: str, path: str, method: str, body: object = None) -> tuple[int, bytes]:
    try:
        return engine.request(sock, path, timeout=API_TIMEOUT, method=method, body=body)
    except OSError as exc:
        raise engine.unreachable(sock, exc) from None


def _reason(status: int, body: bytes) -> str:
    """The engine's own message ({"message": …}), else its HTTP status."""
    import json

    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else f"HTTP {status}"
