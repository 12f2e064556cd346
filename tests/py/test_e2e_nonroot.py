"""A session of an ordinary user (uid 4242, in the docker group), when the tests run as root as CI does:
the container runs as that uid:gid, and nothing in the user's HOME ends up owned by anyone else."""

from __future__ import annotations

import grp
import json
import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path

import pytest

from claude_docker.launcher.staging import transcript_dir_name
from fakeapi import FakeAnthropic
from shell import PLUGIN

pytestmark = [pytest.mark.docker, pytest.mark.image]

UID = GID = 4242


@pytest.fixture
def user_home():
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    if not shutil.which("setpriv") or not Path("/usr/bin/python3").exists():
        pytest.skip("needs setpriv and /usr/bin/python3")
    base = Path(tempfile.mkdtemp(prefix="claude-docker-user-"))
    base.chmod(0o755)
    try:
        home = base / "home"
        (home / "project").mkdir(parents=True)
        # An interpreter that user can run (this one may live under /root), seeing this venv's packages.
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(base / "venv")], check=True)
        site = subprocess.run([str(base / "venv/bin/python"), "-c", "import site; print(site.getsitepackages()[0])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        Path(site, "claude_docker_tests.pth").write_text(
            f"{sysconfig.get_paths()['purelib']}\n{Path(__file__).resolve().parents[2] / 'pyhelpers'}\n")
        for path in [home, *home.rglob("*")]:
            os.chown(path, UID, GID)
        home.chmod(0o700)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def as_user(base: Path, env: dict, script: str) -> subprocess.CompletedProcess:
    docker_gid = grp.getgrnam("docker").gr_gid
    argv = ["setpriv", f"--reuid={UID}", f"--regid={GID}", f"--groups={docker_gid}", "--", "env", "-i",
            *[f"{k}={v}" for k, v in env.items()], "zsh", "-f", "-c", script]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180)


def user_env(base: Path, image: str, **extra: str) -> dict:
    return {"HOME": str(base / "home"), "PATH": os.environ["PATH"],
            "CLAUDE_DOCKER_PYTHON": str(base / "venv/bin/python"), "CLAUDE_DOCKER_IMAGE": image,
            "CLAUDE_DOCKER_NETWORK": "none", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", **extra}


def claude_in(project: Path, *args: str) -> str:
    return f"source {shlex.quote(str(PLUGIN))}; cd {shlex.quote(str(project))} && claude {shlex.join(args)}"


def test_an_ordinary_user_session_keeps_everything_theirs(user_home, real_image, no_leftover_containers):
    home = user_home / "home"
    project = home / "project"
    with FakeAnthropic(reply="hello, user 4242") as api:
        env = user_env(user_home, real_image, CLAUDE_DOCKER_NETWORK="host", ANTHROPIC_BASE_URL=api.url,
                       ANTHROPIC_API_KEY="sk-user")
        result = as_user(user_home, env, claude_in(project, "-p", "who am i"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello, user 4242"
    transcripts = list((home / ".claude" / "projects" / transcript_dir_name(project)).glob("*.jsonl"))
    assert transcripts and transcripts[0].stat().st_uid == UID
    assert isinstance(json.loads((home / ".claude.json").read_text()), dict)
    assert (home / ".claude.json").stat().st_mode & 0o777 == 0o600
    foreign = [str(p) for p in [home, *home.rglob("*")] if _owner(p) not in ((UID, GID), None)]
    assert not foreign, f"files not owned by the user: {foreign}"
    assert not list((home / ".claude-docker" / "sessions").iterdir())


def test_transcripts_that_could_not_be_saved_stop_the_session_before_it_starts(user_home, real_image):
    """Claude Code would exit 0 having saved nothing; the wrapper says so first, with the fix."""
    home = user_home / "home"
    project = home / "project"
    stuck = home / ".claude" / "projects" / transcript_dir_name(project)
    stuck.mkdir(parents=True)
    for path in (home / ".claude", home / ".claude" / "projects"):
        os.chown(path, UID, GID)  # only the project's own transcript dir is root's, as a `sudo claude` leaves it
    result = as_user(user_home, user_env(user_home, real_image), claude_in(project, "-p", "hi"))
    assert result.returncode == 125
    assert result.stderr == (f"claude-docker: Claude Code could not save its state: {stuck} is not writable by you "
                             f"(left by `sudo claude`?); fix: sudo chown -R {UID} {home / '.claude'}\n")


def test_other_unwritable_shared_dirs_are_a_warning(user_home, real_image, no_leftover_containers):
    home = user_home / "home"
    (home / ".claude" / "todos").mkdir(parents=True)
    os.chown(home / ".claude", UID, GID)
    result = as_user(user_home, user_env(user_home, real_image), claude_in(home / "project", "--version"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2.1.197 (Claude Code)"
    assert result.stderr == (f"claude-docker: warning: {home / '.claude' / 'todos'} is not writable by you: "
                             "Claude Code can't save to todos/\n")


def _owner(path):
    """(uid, gid), or None for a file gone meanwhile (the detached flush renames its temp files)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    return st.st_uid, st.st_gid
