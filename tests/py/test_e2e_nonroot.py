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
from fakeapi import FakeAnthropic
from shell import PLUGIN, encoded_project_dir

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


def test_an_ordinary_user_session_keeps_everything_theirs(user_home, real_image, no_leftover_containers):
    home = user_home / "home"
    project = home / "project"
    with FakeAnthropic(reply="hello, user 4242") as api:
        env = {"HOME": str(home), "PATH": os.environ["PATH"], "CLAUDE_DOCKER_PYTHON": str(user_home / "venv/bin/python"),
               "CLAUDE_DOCKER_IMAGE": real_image, "CLAUDE_DOCKER_NETWORK": "host", "ANTHROPIC_BASE_URL": api.url,
               "ANTHROPIC_API_KEY": "sk-user", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        script = f"source {shlex.quote(str(PLUGIN))}; cd {shlex.quote(str(project))} && claude -p 'who am i'"
        result = as_user(user_home, env, script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello, user 4242"
    transcripts = list((home / ".claude" / "projects" / encoded_project_dir(project)).glob("*.jsonl"))
    assert transcripts and transcripts[0].stat().st_uid == UID
    assert isinstance(json.loads((home / ".claude.json").read_text()), dict)
    assert (home / ".claude.json").stat().st_mode & 0o777 == 0o600
    foreign = [str(p) for p in [home, *home.rglob("*")] if p.lstat().st_uid != UID or p.lstat().st_gid != GID]
    assert not foreign, f"files not owned by the user: {foreign}"
    assert not list((home / ".claude-docker" / "sessions").iterdir())
