"""Acting as an ordinary user (uid 4242, in the docker group) when the tests run as root, as CI does: the
plugin run as them, in the HOME and with the interpreter conftest's `user_home` fixture made for them."""

from __future__ import annotations

import grp
import os
import shlex
import subprocess
from pathlib import Path

from shell import PLUGIN

UID = GID = 4242


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
