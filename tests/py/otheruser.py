"""Acting as an ordinary user (uid 4242, in the docker group) when the tests run as root, as CI does: a HOME
of theirs and an interpreter they can run (user_base), and the plugin or the helper run as them."""

from __future__ import annotations

import grp
import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from shell import PLUGIN

UID = GID = 4242


def as_user(base: Path, env: dict, script: str, timeout: float = 180) -> subprocess.CompletedProcess:
    docker_gid = grp.getgrnam("docker").gr_gid
    argv = ["setpriv", f"--reuid={UID}", f"--regid={GID}", f"--groups={docker_gid}", "--", "env", "-i",
            *[f"{k}={v}" for k, v in env.items()], "zsh", "-f", "-c", script]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def user_env(base: Path, image: str, **extra: str) -> dict:
    return {"HOME": str(base / "home"), "PATH": os.environ["PATH"],
            "CLAUDE_DOCKER_PYTHON": str(base / "venv/bin/python"), "CLAUDE_DOCKER_IMAGE": image,
            "CLAUDE_DOCKER_NETWORK": "none", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", **extra}


def claude_in(project: Path, *args: str) -> str:
    return f"source {shlex.quote(str(PLUGIN))}; cd {shlex.quote(str(project))} && claude {shlex.join(args)}"


@contextmanager
def user_base():
    """A base dir holding the user's HOME (home/, with an empty project/) and their venv (venv/); skips the
    test where no other user can be acted as."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    if not shutil.which("setpriv") or not Path("/usr/bin/python3").exists():
        pytest.skip("needs setpriv and /usr/bin/python3")
    made = Path(tempfile.mkdtemp(prefix="claude-docker-user-"))
    made.chmod(0o755)
    try:
        home = made / "home"
        (home / "project").mkdir(parents=True)
        # An interpreter that user can run (this one may live under /root), seeing this venv's packages.
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(made / "venv")], check=True)
        site = subprocess.run([str(made / "venv/bin/python"), "-c", "import site; print(site.getsitepackages()[0])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        Path(site, "claude_docker_tests.pth").write_text(
            f"{sysconfig.get_paths()['purelib']}\n{Path(__file__).resolve().parents[2] / 'pyhelpers'}\n")
        for path in [home, *home.rglob("*")]:
            os.chown(path, UID, GID)
        home.chmod(0o700)
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)
