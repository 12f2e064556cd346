"""The egress forwarder image: the host's own socat, the libraries `ldd` names for it and their loader, as
/socat in an otherwise empty root filesystem (`docker import`, like the `minimal` recipe). No registry, no
shell, nothing else to run in it. The sidecar (sidecar.py) runs it to carry the session's loopback
connections to 127.0.0.1:PORT over to the proxy's unix socket.

`ensure` is on the start of every allowlist session: a present image costs one raw API request; a missing
one is built (a second or two), once, however many sessions start together.
"""

from __future__ import annotations

from claude_docker import engine, exitcodes
from claude_docker.errors import ToolError
from claude_docker.image import metadata

TYPE_CHECKING = False  # not typing's import, on the hot path (mypy knows the name)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Callable

IMAGE = "claude-docker/egress-forwarder:1"
PORT = 3128
SOCKET_DIR_IN = "/run/claude-docker-egress"  # where the sidecar sees the proxy's socket directory
SOCKET_NAME = "proxy.sock"
PROGRAM = "/socat"
RECIPE = "forwarder"
SOCAT_VERSION = metadata.PREFIX + "socat-version"
NO_SOCAT = ("allowlist mode needs socat on this host to build its forwarder (apt install socat), or set "
            "CLAUDE_DOCKER_NETWORK=bridge for open egress")
# The sidecar mounts a directory of this host: an engine reached over tcp or ssh, or another context, would
# look for it on its own machine.
LOCAL_ENGINE_ONLY = ("allowlist mode needs the Docker engine on a local unix socket (DOCKER_HOST unix://… or the "
                     "default), or set CLAUDE_DOCKER_NETWORK=bridge for open egress")
LOCK = "egress-forwarder"
LOCK_TIMEOUT = 120.0  # another session's build of it takes seconds; a stuck one is not waited on forever


def ensure(log: Callable[[str], None]) -> str:
    """The forwarder image's id, built first if the engine does not have it."""
    sock = engine_socket()
    found = present(sock)
    if found:
        return found
    from claude_docker import locking

    socat = _socat()  # before the lock: a host without socat is told so at once
    with locking.state_lock(LOCK, LOCK_TIMEOUT, exitcodes.TOOL_FAILED):
        return present(sock) or build(socat, log)  # a session beside us may have built it while we waited


def present(sock: str) -> str:
    """The image's id if the engine has it, else ""."""
    import json

    try:
        status, body = engine.request(sock, "/images/" + engine.quote_ref(IMAGE) + "/json")
    except OSError as exc:
        raise engine.unreachable(sock, exc) from None
    if status == 404:
        return ""
    try:
        if status != 200:
            raise ValueError(f"HTTP {status}")
        return str(json.loads(body)["Id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ToolError(f"the Docker daemon answered {exc} when asked for image {IMAGE}",
                        exitcodes.TOOL_FAILED) from None


def available() -> bool:
    """Could `ensure` build the image here (socat in the system's directories)?"""
    from claude_docker.image import rootfs

    return rootfs.system_program("socat") is not None


def build(socat: str, log: Callable[[str], None]) -> str:
    """Build and tag IMAGE from the `socat` binary; its id. The docker SDK is fine here: this runs once."""
    import tempfile
    import time
    from pathlib import Path

    from claude_docker import dockerclient
    from claude_docker.image import importer
    from claude_docker.obs import events
    from claude_docker.obs.catalog import observe

    started = time.perf_counter()
    version = socat_version(socat)
    log(f"building the egress forwarder image {IMAGE} from {socat} (socat {version or 'of unknown version'})")
    labels = {metadata.RECIPE: RECIPE, metadata.OWNER: metadata.owner(), metadata.BUILT_AS: IMAGE,
              SOCAT_VERSION: version}
    try:
        with tempfile.TemporaryDirectory(prefix="claude-docker-forwarder-") as tmp:
            rootfs = Path(tmp) / "rootfs.tar"
            assemble_rootfs(Path(socat), rootfs)
            client = dockerclient.connect(timeout=60, operation="egress-forwarder")
            image_id = importer.import_rootfs(client, rootfs, IMAGE, {}, labels, lambda line: None)  # said above
    except ToolError as exc:
        observe("claude_docker_image_builds_total", 1, recipe=RECIPE, outcome="error")
        events.emit("image.build", exc.message, level="error", outcome="error", fields={"recipe": RECIPE,
                                                                                        "tag": IMAGE})
        raise
    except Exception as exc:  # noqa: BLE001 - the SDK's and the file system's failures: one line, not a traceback
        observe("claude_docker_image_builds_total", 1, recipe=RECIPE, outcome="error")
        raise ToolError(f"could not build the egress forwarder image {IMAGE}: {exc}", exitcodes.TOOL_FAILED) from None
    seconds = time.perf_counter() - started
    observe("claude_docker_image_builds_total", 1, recipe=RECIPE, outcome="ok")
    events.emit("image.build", f"built {IMAGE}", outcome="ok", duration_ms=seconds * 1000,
                fields={"recipe": RECIPE, "tag": IMAGE, "image_id": image_id, "socat_version": version})
    return image_id


def assemble_rootfs(socat: Path, out: Path) -> None:
    """The image's files: /socat and what the loader needs to run it, nothing else (no shell, no /tmp: the
    sidecar's root is read-only and socat writes nowhere; the engine makes the mount point)."""
    import tarfile

    from claude_docker.image import rootfs

    libs = rootfs.shared_libraries(socat)
    with tarfile.open(out, "w") as tar:
        for d in sorted(rootfs.parent_dirs(libs)):
            rootfs.add_dir(tar, d)
        rootfs.add_file(tar, str(socat), PROGRAM, 0o755)
        for lib in sorted(set(libs)):
            rootfs.add_file(tar, lib, lib)


def socat_version(socat: str) -> str:
    """`1.7.4.4` from `socat -V`'s "socat version 1.7.4.4 on …" line; "" if it says nothing like that."""
    import subprocess

    try:
        out = subprocess.run([socat, "-V"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    for line in out.splitlines():
        words = line.split()
        if words[:2] == ["socat", "version"] and len(words) > 2:
            return words[2]
    return ""


def _socat() -> str:
    from claude_docker.image import rootfs

    found = rootfs.system_program("socat")
    if not found:
        raise ToolError(NO_SOCAT, exitcodes.TOOL_FAILED)
    return found


def engine_socket() -> str:
    """The engine's local unix socket; ToolError if it is reached otherwise."""
    sock = engine.socket_path()
    if sock is None:
        raise ToolError(LOCAL_ENGINE_ONLY, exitcodes.TOOL_FAILED)
    return sock

