"""A shared engine: other users' sessions, sessions of another PID namespace of this host, and those of an
older version are never listed as the caller's nor touched by `cleanup` or `claude-dr`; a session of our
own namespace whose wrapper died still is. And `claude-dr` shows its plan and asks before changing anything.

The sessions are made by hand, with the labels and manifests a wrapper writes: a container (the stand-in
image sleeping, no network) and a session dir whose wrapper is dead, or alive in another PID namespace.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claude_docker.container import LABEL_PREFIX, TOOL_LABEL
from claude_docker.liveness import Place, here, host_name, process_start
from shell import helper, plugin_env, run_claude
from test_e2e_container import _children
from test_recovery import backed_up  # noqa: F401 (a fixture: a Claude state and a backup of it)

pytestmark = pytest.mark.docker

OTHER_UID = 4242


@pytest.fixture
def env(home, fake_image):
    return plugin_env(home, fake_image)


@pytest.fixture
def containers(docker_client, fake_image):
    """start(place, pid, start, uid=, user=, legacy=): a container labelled as a session's (as the previous
    version labelled it, with `legacy`), running as `user`."""
    made = []

    def start(place: Place, pid: int, wrapper_start: str, uid: int | None = os.getuid(), user: str = "",
              legacy: bool = False):
        session = os.urandom(6).hex()
        labels = {TOOL_LABEL: "claude-docker", LABEL_PREFIX + "session": session, LABEL_PREFIX + "project": "/p",
                  LABEL_PREFIX + "wrapper-pid": str(pid), LABEL_PREFIX + "wrapper-start": wrapper_start,
                  LABEL_PREFIX + "host": place.host, LABEL_PREFIX + "started": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  LABEL_PREFIX + "slot": "v1"}
        if not legacy:  # the previous version wrote neither the owner nor the boot and PID namespace
            labels.update({LABEL_PREFIX + "uid": str(uid), LABEL_PREFIX + "boot": place.boot,
                           LABEL_PREFIX + "pidns": place.pidns, LABEL_PREFIX + "machine": place.machine})
        c = docker_client.containers.run(fake_image, ["sleep", "600"], name=f"claude-docker-shared-{session[:8]}",
                                         labels=labels, user=user or None, network_mode="none", detach=True)
        made.append(c)
        return c

    yield start
    from docker.errors import NotFound

    for c in made:
        try:
            c.remove(force=True)
        except NotFound:  # removed by the test (cleanup did its job)
            pass


@pytest.fixture
def dead_wrapper():
    """(pid, start time) of a process of ours that has exited."""
    proc = subprocess.Popen(["sleep", "60"])
    start = process_start(proc.pid)
    proc.kill()
    proc.wait()
    return proc.pid, start


@pytest.fixture
def other_namespace():
    """A live process in a PID namespace of its own: (its Place, its pid as it sees itself, its start time)."""
    # (unshare's stderr: mirroring its child's SIGKILL at the end, it says it can't unblock that signal.)
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "sleep", "60"], stderr=subprocess.DEVNULL)
    mine, inner, deadline = here(), None, time.time() + 10
    try:
        while inner is None and time.time() < deadline:
            for child in _children(proc.pid):
                try:
                    ns = str(os.stat(f"/proc/{child}/ns/pid").st_ino)
                    comm = Path(f"/proc/{child}/comm").read_text().strip()
                    status = Path(f"/proc/{child}/status").read_text()
                except OSError:
                    continue
                if ns != mine.pidns and comm == "sleep":  # past unshare's fork and exec
                    nspid = next(line for line in status.splitlines() if line.startswith("NSpid:"))
                    inner = (child, int(nspid.split()[-1]), ns)
            time.sleep(0.02)
        assert inner is not None, "unshare did not start its child"
        child, pid, ns = inner
        yield mine._replace(pidns=ns), pid, process_start(child)
    finally:
        # The namespace's init, unshare's child: unshare (which blocks SIGTERM) reaps it and exits.
        if inner:
            os.kill(inner[0], signal.SIGKILL)
        else:
            proc.kill()
        proc.wait(timeout=10)


def _session_dir(home: Path, place: Place, pid: int, start: str) -> Path:
    """A session dir as a wrapper killed before its container started leaves it (cleanup removes such)."""
    path = home / ".claude-docker" / "sessions" / os.urandom(6).hex()
    path.mkdir(parents=True)
    (path / "session.json").write_text(json.dumps({"session": path.name, "state": "starting", **place._asdict(),
                                                   "wrapper_pid": pid, "wrapper_start": start}))
    return path


def _json(env, *args):
    result = helper(env, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _ps(env, *args) -> dict:
    return {s["name"]: s for s in _json(env, "ps", *args)}


def _running(c) -> bool:
    from docker.errors import NotFound

    try:
        c.reload()
    except NotFound:
        return False
    return c.status == "running"


def test_another_users_session_is_not_listed_nor_removed_unless_root_asks(env, home, containers, dead_wrapper,
                                                                        backed_up):  # noqa: F811
    # Its wrapper is dead and it ran here: were it ours, it would be an orphan to remove.
    theirs = containers(here(), *dead_wrapper, uid=OTHER_UID)
    assert theirs.name not in _ps(env)
    cleanup = _json(env, "cleanup")
    assert theirs.name not in {a.get("container") for a in cleanup["actions"]}
    (home / ".claude.json").write_text("{")
    assert theirs.name not in _json(env, "dr", "--yes", "--no-smoke")["orphans_stopped"]
    assert _running(theirs)

    everyone = _ps(env, "--all-users")[theirs.name]
    assert everyone["uid"] == OTHER_UID and everyone["orphaned"] is True
    widened = helper(env, "cleanup", "--all-users")
    assert widened.returncode == 0 and f"remove orphaned container {theirs.name}" in widened.stdout
    assert theirs.name not in _ps(env, "--all-users")


@pytest.mark.parametrize("command", [["ps", "--all-users"], ["cleanup", "--all-users", "--dry-run"]])
def test_all_users_is_refused_to_anyone_but_root(command):
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    # The system's interpreter, which that user can run, with this venv's packages and this checkout.
    paths = [p for p in sys.path if p.endswith("site-packages")] + [str(Path(__file__).parents[2] / "pyhelpers")]
    result = subprocess.run(["setpriv", f"--reuid={OTHER_UID}", f"--regid={OTHER_UID}", "--clear-groups",
                             "env", "-i", "HOME=/nonexistent", f"PYTHONPATH={os.pathsep.join(paths)}",
                             "/usr/bin/python3", "-m", "claude_docker", *command], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("claude-docker: --all-users is for root only: other users' sessions are theirs to list "
                             "and clean up\n")


def test_a_session_of_another_pid_namespace_is_alive_and_a_dead_one_of_ours_is_cleaned(
        env, home, containers, other_namespace, dead_wrapper):
    # Same host name and boot: by its pid alone (1, or another's start time here) its wrapper would look dead.
    place, pid, start = other_namespace
    elsewhere = containers(place, pid, start)
    elsewhere_dir = _session_dir(home, place, pid, start)
    orphan = containers(here(), *dead_wrapper)
    orphan_dir = _session_dir(home, here(), *dead_wrapper)

    listed = _ps(env)
    assert listed[elsewhere.name]["wrapper"] == "elsewhere" and not listed[elsewhere.name]["orphaned"]
    assert listed[orphan.name]["wrapper"] == "gone" and listed[orphan.name]["orphaned"]
    (home / "proj").mkdir()
    hint = run_claude(home / "proj", env, "--version").stderr  # a `claude` start counts the interrupted sessions
    assert "claude-docker: 1 interrupted session(s) not yet synced back" in hint

    cleanup = _json(env, "cleanup")
    acted_on = {a.get("container") or a["session"] for a in cleanup["actions"]}
    assert {orphan.name, orphan_dir.name} <= acted_on
    assert not {elsewhere.name, elsewhere_dir.name} & acted_on
    assert _running(elsewhere) and elsewhere_dir.exists()
    assert not orphan_dir.exists() and orphan.name not in _ps(env)


def test_containers_of_the_previous_version_are_ours_by_user_and_host_and_never_judged_orphaned(
        env, containers, dead_wrapper):
    mine = containers(here(), *dead_wrapper, user=f"{os.getuid()}:{os.getgid()}", legacy=True)
    theirs = containers(here(), *dead_wrapper, user=f"{OTHER_UID}:{OTHER_UID}", legacy=True)
    other_host = containers(here()._replace(host=host_name() + "-not"), *dead_wrapper,
                            user=f"{os.getuid()}:{os.getgid()}", legacy=True)
    listed = _ps(env)
    assert listed[mine.name]["uid"] == os.getuid() and listed[mine.name]["wrapper"] == "elsewhere"
    assert theirs.name not in listed and other_host.name not in listed
    assert _ps(env, "--all-users")[other_host.name]["uid"] is None  # a uid of another host names no one here
    assert helper(env, "cleanup").returncode == 0
    assert _running(mine) and _running(theirs) and _running(other_host)


def _dr_on_a_terminal(env, answer: bytes) -> tuple[int, str, str]:
    """`claude-docker dr` on a terminal: (status, what it wrote before asking, what it wrote after)."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-I", "-m", "claude_docker", "dr", "--no-smoke"], env=env,
                            stdin=secondary, stdout=secondary, stderr=secondary)
    os.close(secondary)
    out, before, deadline = b"", None, time.time() + 120
    try:
        while time.time() < deadline:
            if select.select([primary], [], [], 0.5)[0]:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:  # the terminal closed: dr is done
                    break
                if not chunk:
                    break
                out += chunk
            if before is None and b"Recover now?" in out:
                before, out = out, b""
                os.write(primary, answer)
            elif proc.poll() is not None and not select.select([primary], [], [], 0.2)[0]:
                break
        return proc.wait(timeout=30), (before or b"").decode(), out.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(primary)


def test_claude_dr_shows_its_plan_then_asks_and_no_changes_nothing(env, home, containers, dead_wrapper,
                                                                   backed_up):  # noqa: F811
    from claude_docker.backup.store import Store

    orphan = containers(here(), *dead_wrapper)
    (home / ".claude.json").write_text("[]")
    snapshots = Store(home / ".claude-docker" / "backups").snapshot_ids()
    status, before, after = _dr_on_a_terminal(env, b"n\n")
    assert status == 1 and "nothing changed" in after
    lines = before.replace("\r\n", "\n").splitlines()
    assert any(line.startswith("broken: ") for line in lines)
    assert any(line.startswith("using backup ") for line in lines)
    assert (f"will stop orphaned container {orphan.name} (its `claude` wrapper is gone; it would write over the "
            "restore)") in lines
    assert "will restore:" in lines and any(line.startswith("  claude.json (") for line in lines)
    assert lines[-1].startswith("Recover now?")
    assert _running(orphan)
    assert (home / ".claude.json").read_text() == "[]"
    assert Store(home / ".claude-docker" / "backups").snapshot_ids() == snapshots  # not even a pre-restore backup

    status, _, after = _dr_on_a_terminal(env, b"y\n")
    assert status == 0, after
    assert f"stopped orphaned container {orphan.name}" in after and not _running(orphan)
    assert json.loads((home / ".claude.json").read_text()) == json.loads(backed_up["json"])


def test_a_session_of_this_machine_before_a_reboot_is_gone_and_one_of_a_namesake_machine_is_not():
    from claude_docker.liveness import ELSEWHERE, GONE, wrapper_state

    now = Place("box", "boot-2", "4026531836", "machine-a")
    assert wrapper_state(now._replace(boot="boot-1"), os.getpid(), "", current=now) == GONE  # pids start over
    assert wrapper_state(Place("box", "boot-1", "4026531836", "machine-b"), os.getpid(), "", current=now) == ELSEWHERE
    assert wrapper_state(Place("box", "boot-1", "4026531836", ""), os.getpid(), "", current=now) == ELSEWHERE
