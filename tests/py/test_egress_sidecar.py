"""The egress forwarder image (the host's socat) and the sidecar that runs it: it carries the session's
loopback port to the proxy's unix socket and nothing else, with no capability, no network but `lo`, a
read-only root, as the user. Its containers are listed, shown and cleaned up with their sessions.

Traffic stays on this machine: the proxy is an echo server on a unix socket in the test's temp dir, and every
container runs with network "none" or "container:<a sidecar the test started>".
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from claude_docker import engine, exitcodes
from claude_docker.container import LABEL_PREFIX, NETWORK_LABEL, ROLE_LABEL, TOOL_LABEL, UID_LABEL
from claude_docker.egress import forwarder, sidecar
from claude_docker.errors import ToolError
from claude_docker.image import metadata, rootfs
from claude_docker.inventory import LiveSession, shown
from claude_docker.liveness import here, process_start
from shell import helper, plugin_env

TEST_IMAGE = "claude-docker-test/egress-forwarder:1"  # never the user's own forwarder image


# ---- without an engine -------------------------------------------------------------------------------------

def test_the_sidecar_is_created_locked_down():
    body = sidecar.create_body(Path("/run/user/1000/egress"), 1000, 1001, True, {TOOL_LABEL: "claude-docker"})
    host = body["HostConfig"]
    assert body["Entrypoint"] == ["/socat"] and body["User"] == "1000:1001"
    assert body["Labels"] == {TOOL_LABEL: "claude-docker", ROLE_LABEL: "egress"}
    assert host["NetworkMode"] == "none" and host["CapDrop"] == ["ALL"] and "CapAdd" not in host
    assert host["SecurityOpt"] == ["no-new-privileges"] and host["ReadonlyRootfs"] is True
    assert host["AutoRemove"] is True and host["LogConfig"] == {"Type": "none"} and host["UsernsMode"] == "host"
    assert host["Mounts"] == [{"Type": "bind", "Source": "/run/user/1000/egress",
                               "Target": "/run/claude-docker-egress", "ReadOnly": True}]
    assert "UsernsMode" not in sidecar.create_body(Path("/s"), 1, 1, False, {})["HostConfig"]
    assert body["Cmd"][:4] == ["-b", "65536", "-t", "60"]  # a half-closed client still gets its answer
    listen, connect = body["Cmd"][4:]
    assert listen.startswith("TCP-LISTEN:3128,bind=127.0.0.1,fork,") and "max-children" in listen
    assert connect == "UNIX-CONNECT:/run/claude-docker-egress/proxy.sock"
    assert sidecar.PIDS_LIMIT > sidecar.MAX_CHILDREN  # the listener itself must always be able to fork
    assert sidecar.name_for("claude-docker-p-1234abcd") == "claude-docker-p-1234abcd-egress"


def test_allowlist_is_a_mode_not_a_docker_network():
    assert engine.network_lookup("allowlist") is None
    assert engine.network_lookup("allowlisted") == "/networks/allowlisted"


def test_a_request_body_goes_as_json(tmp_path):
    path = str(tmp_path / "engine.sock")
    seen: list[bytes] = []
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(1)

        def answer():
            conn, _ = server.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < len('{"Image": "\\u00e9"}'):
                    data += conn.recv(4096)
                seen.append(data)
                conn.sendall(b"HTTP/1.0 201 Created\r\n\r\n{}")

        thread = threading.Thread(target=answer)
        thread.start()
        assert engine.request(path, "/containers/create?name=x", method="POST", body={"Image": "é"}) == (201, b"{}")
        thread.join()
    head, _, body = seen[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /containers/create?name=x HTTP/1.0\r\n")
    assert b"Content-Type: application/json" in head and f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {"Image": "é"}


def _live(name: str, session: str, role: str, orphaned: bool) -> LiveSession:
    return LiveSession(session=session, name=name, project="/p", image="i", slot="v1", host="h", wrapper_pid=1,
                       started="", status="running", uid=0, wrapper="gone" if orphaned else "alive",
                       orphaned=orphaned, role=role, network="allowlist")


def test_ps_shows_a_sidecar_only_when_it_is_left_behind_alone():
    found = [_live("a", "A", "session", False), _live("a-egress", "A", "egress", False),
             _live("b-egress", "B", "egress", True), _live("c-egress", "C", "egress", False),
             _live("d", "D", "session", True), _live("d-egress", "D", "egress", True)]
    assert [s.name for s in shown(found)] == ["a", "b-egress", "d"]


def test_no_socat_no_forwarder_and_one_line_that_says_so(home, monkeypatch, tmp_path):
    monkeypatch.setattr(forwarder, "present", lambda sock: "")
    monkeypatch.setattr(rootfs, "SYSTEM_PATH", str(tmp_path))  # an empty dir: no socat anywhere
    with pytest.raises(ToolError) as caught:
        forwarder.ensure(lambda line: pytest.fail(f"said {line!r}"))
    assert caught.value.code == exitcodes.TOOL_FAILED
    assert caught.value.message == ("allowlist mode needs socat on this host to build its forwarder (apt install "
                                    "socat), or set CLAUDE_DOCKER_NETWORK=bridge for open egress")
    from claude_docker.checks import check_forwarder

    check = check_forwarder()
    assert check.status == "fail" and check.fix.startswith("apt install socat")


def test_image_build_makes_the_forwarder_too_when_socat_is_there(monkeypatch, tmp_path):
    from claude_docker.commands import image

    said: list[str] = []
    monkeypatch.setattr(forwarder, "ensure", lambda log: log("built") or "sha256:f")
    image._forwarder(said.append)
    assert said == ["built"]

    def refused(log):
        raise ToolError(forwarder.LOCAL_ENGINE_ONLY, exitcodes.TOOL_FAILED)

    monkeypatch.setattr(forwarder, "ensure", refused)
    image._forwarder(said.append)
    assert said[1:] == ["the egress forwarder image was not built: " + forwarder.LOCAL_ENGINE_ONLY]
    monkeypatch.setattr(rootfs, "SYSTEM_PATH", str(tmp_path))  # no socat: not a word (the session image was asked for)
    image._forwarder(said.append)
    assert len(said) == 2


# ---- with the engine ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def forwarder_image(docker_client, tmp_path_factory):
    """The forwarder built from this host's socat, under a tag of the tests' own (removed after them)."""
    if not forwarder.available():
        pytest.skip("socat is not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(forwarder, "IMAGE", TEST_IMAGE)
        mp.setenv("HOME", str(tmp_path_factory.mktemp("forwarder-home")))  # its build event and lock there
        try:
            docker_client.images.remove(TEST_IMAGE, force=True)  # a run killed before its teardown
        except Exception:  # noqa: BLE001 - none there: the usual case
            pass
        said: list[str] = []
        started = time.perf_counter()
        image_id = forwarder.ensure(said.append)
        seconds = time.perf_counter() - started
        socat = shutil.which("socat") or ""
        assert said == [f"building the egress forwarder image {TEST_IMAGE} from {socat} (socat "
                        + forwarder.socat_version(socat) + ")"]
        assert seconds < 10, f"building the forwarder took {seconds:.1f}s"
        yield image_id
    docker_client.images.remove(TEST_IMAGE, force=True)


@pytest.fixture
def proxy_dir(tmp_path):
    """A socket dir whose proxy.sock is an echo server (the test's stand-in for the proxy), open to any uid."""
    folder = tmp_path / "egress"
    folder.mkdir()
    folder.chmod(0o755)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / forwarder.SOCKET_NAME))
    (folder / forwarder.SOCKET_NAME).chmod(0o777)
    server.listen(8)

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed: the test is over
            with conn:
                data = conn.recv(4096)
                conn.sendall(b"echo:" + data)

    threading.Thread(target=serve, daemon=True).start()
    yield folder
    server.close()


@pytest.fixture
def sidecars(docker_client, forwarder_image, tmp_path):
    """start(labels=…, uid=…) → a started sidecar's name; each is removed after the test."""
    made = []

    def start(folder: Path, labels: dict | None = None, uid: int = os.getuid(), gid: int = os.getgid()) -> str:
        name = f"claude-docker-test-{os.urandom(4).hex()}-egress"
        made.append(name)
        sidecar.start(name, folder, uid, gid, False, labels or {LABEL_PREFIX + "project": str(tmp_path)})
        return name

    yield start
    for name in made:
        _remove(docker_client, name)


def _remove(docker_client, name: str) -> None:
    from docker.errors import NotFound

    try:
        docker_client.containers.get(name).remove(force=True)
    except NotFound:
        pass


def _exists(docker_client, name: str) -> bool:
    """Is there a container of that name (the low-level listing: no inspect that one being removed would fail)?"""
    return bool(docker_client.api.containers(all=True, filters={"name": f"^/{name}$"}))


def _joined(sidecar_name: str, image: str, script: str, **run) -> subprocess.CompletedProcess:
    """`script` in a container of `image` sharing the sidecar's network (and nothing else), as the session would."""
    return subprocess.run(["docker", "run", "--rm", "--network", f"container:{sidecar_name}", "--log-driver",
                           "none", "--cap-drop", "ALL", "--entrypoint", "sh", image, "-c", script],
                          capture_output=True, text=True, timeout=60, **run)


@pytest.mark.docker
def test_a_joined_container_reaches_the_proxy_socket_through_loopback_and_nothing_else(
        docker_client, sidecars, proxy_dir, fake_image):
    name = sidecars(proxy_dir, uid=4242, gid=4343)
    assert docker_client.containers.get(name).attrs["State"]["Running"] is True
    through = _joined(name, fake_image, "echo hello | nc 127.0.0.1 3128")
    assert through.stdout == "echo:hello\n", through.stderr
    # No route anywhere, no interface but lo: a connection that ignores the proxy has nowhere to go.
    closed = _joined(name, fake_image, "cat /proc/net/route; ls /sys/class/net; nc 127.0.0.1 3129 </dev/null"
                                       " && echo connected")
    assert closed.stdout.split("\n")[0].startswith("Iface") and closed.stdout.split("\n")[1:] == ["lo", ""]

    attrs = docker_client.containers.get(name).attrs
    host = attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"] and host["ReadonlyRootfs"] is True
    assert host["NetworkMode"] == "none" and host["SecurityOpt"] == ["no-new-privileges"]
    assert [(m["Destination"], m["RW"]) for m in attrs["Mounts"]] == [("/run/claude-docker-egress", False)]
    assert attrs["Config"]["User"] == "4242:4343" and attrs["Config"]["Labels"][ROLE_LABEL] == "egress"
    status = Path(f"/proc/{attrs['State']['Pid']}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    caps = next(line for line in status.splitlines() if line.startswith("CapEff:")).split()[1]
    assert uids == ["4242"] * 4 and int(caps, 16) == 0

    sidecar.stop(name)
    deadline = time.monotonic() + 10
    while _exists(docker_client, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _exists(docker_client, name), "AutoRemove left it"
    sidecar.stop(name)  # gone already: fine


@pytest.mark.docker
def test_the_forwarder_image_is_ours_and_built_once(docker_client, forwarder_image, monkeypatch):
    labels = docker_client.images.get(TEST_IMAGE).labels
    assert labels[metadata.RECIPE] == "forwarder" and labels[forwarder.SOCAT_VERSION]
    assert labels[metadata.OWNER].startswith(f"{os.getuid()}:") and labels[metadata.BUILT_AS] == TEST_IMAGE
    monkeypatch.setattr(forwarder, "IMAGE", TEST_IMAGE)
    assert forwarder.ensure(lambda line: pytest.fail(f"built again: {line}")) == forwarder_image


@pytest.mark.docker
def test_a_sidecar_that_cannot_start_leaves_nothing_and_says_why(docker_client, forwarder_image, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setattr(forwarder, "IMAGE", TEST_IMAGE)
    name = f"claude-docker-test-{os.urandom(4).hex()}-egress"
    with pytest.raises(ToolError) as caught:  # a socket dir that does not exist: the engine refuses the mount
        sidecar.start(name, tmp_path / "missing", os.getuid(), os.getgid(), False, {})
    assert caught.value.code == exitcodes.TOOL_FAILED and name in caught.value.message
    assert "\n" not in caught.value.message
    assert not _exists(docker_client, name)


@pytest.mark.docker
def test_sidecars_are_listed_with_their_sessions_and_cleaned_up_with_orphans(
        docker_client, sidecars, proxy_dir, fake_image, home, tmp_path):
    proc = subprocess.Popen(["sleep", "60"])  # a wrapper that has exited
    wrapper = (proc.pid, process_start(proc.pid))
    proc.kill()
    proc.wait()
    place = here()

    def labels(session: str) -> dict:
        return {TOOL_LABEL: "claude-docker", LABEL_PREFIX + "session": session,
                LABEL_PREFIX + "project": str(tmp_path), UID_LABEL: str(os.getuid()),
                LABEL_PREFIX + "wrapper-pid": str(wrapper[0]), LABEL_PREFIX + "wrapper-start": wrapper[1],
                LABEL_PREFIX + "host": place.host, LABEL_PREFIX + "boot": place.boot,
                LABEL_PREFIX + "pidns": place.pidns, LABEL_PREFIX + "machine": place.machine,
                LABEL_PREFIX + "started": time.strftime("%Y-%m-%dT%H:%M:%SZ"), LABEL_PREFIX + "slot": "v1",
                NETWORK_LABEL: "allowlist"}

    with_session = sidecars(proxy_dir, labels("aaaa1111"))
    alone = sidecars(proxy_dir, labels("bbbb2222"))
    session = docker_client.containers.run(fake_image, ["sleep", "600"], name=with_session[:-len("-egress")],
                                           labels=labels("aaaa1111"), network_mode=f"container:{with_session}",
                                           detach=True)
    try:
        env = plugin_env(home, fake_image)
        listed = helper(env, "ps", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = {row["name"]: row for row in json.loads(listed.stdout)}
        assert set(rows) == {session.name, alone}
        assert rows[session.name]["role"] == "session" and rows[session.name]["network"] == "allowlist"
        assert rows[alone]["role"] == "egress" and rows[alone]["orphaned"] is True
        table = helper(env, "ps").stdout
        assert "NETWORK" in table and "(orphaned) (egress sidecar)" in table

        cleaned = helper(env, "cleanup")
        assert cleaned.returncode == 0, cleaned.stderr
        lines = [line for line in cleaned.stdout.splitlines() if "remove orphaned" in line]
        # The session's container first: it lives in its sidecar's network namespace.
        assert lines[0] == f"remove orphaned container {session.name}"
        assert sorted(lines[1:]) == sorted(f"remove orphaned egress sidecar {name}" for name in (with_session, alone))
        assert not any(_exists(docker_client, name) for name in (session.name, with_session, alone))
    finally:
        _remove(docker_client, session.name)
