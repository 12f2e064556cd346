"""Run the product the way a user does: the `claude` zsh function from the sourced plugin."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "ai-assistant.zsh"


def plugin_env(home: Path, image: str, **extra: str) -> dict:
    """An environment for the plugin: this interpreter as the helper, containers on the host network only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE_", "ANTHROPIC_"))}
    env.update(HOME=str(home), CLAUDE_DOCKER_PYTHON=sys.executable, CLAUDE_DOCKER_IMAGE=image,
               CLAUDE_DOCKER_NETWORK="none", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", NO_COLOR="1",
               # No automatic backups (a detached process that would outlive the test): the tests of
               # those triggers turn them on.
               CLAUDE_DOCKER_BACKUP_INTERVAL="0")
    env.update(extra)
    return env


def zsh_command(cwd: Path, words: list[str]) -> list[str]:
    script = f"source {shlex.quote(str(PLUGIN))}; cd {shlex.quote(str(cwd))} && {shlex.join(words)}"
    return ["zsh", "-f", "-c", script]


def run_claude(cwd: Path, env: dict, *args: str, stdin: str | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(zsh_command(cwd, ["claude", *args]), env=env, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def start_claude(cwd: Path, env: dict, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(zsh_command(cwd, ["claude", *args]), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def helper(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "claude_docker", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)

