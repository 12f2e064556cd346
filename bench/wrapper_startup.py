"""`claude --version` through the zsh function vs a bare `docker run` of the same image (goal: ≤ 1.25x)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import interleaved, plugin_setup, report, time_command

GOAL_RATIO = 1.25


def main(image: str, rounds: int = 15) -> bool:
    with tempfile.TemporaryDirectory(prefix="claude-docker-bench-") as tmp:
        home = Path(tmp) / "home"
        project = home / "project"
        project.mkdir(parents=True)
        # No detached flush or backup: they would outlive this run and write into its removed HOME.
        env = dict(os.environ, HOME=str(home), CLAUDE_DOCKER_IMAGE=image, CLAUDE_DOCKER_NETWORK="none",
                   CLAUDE_DOCKER_BACKGROUND_FLUSH="0", CLAUDE_DOCKER_BACKUP_INTERVAL="0")
        env.pop("CLAUDE_DOCKER_PYTHON", None)
        docker = shutil.which("docker")
        bare = [docker, "run", "--rm", "--network", "none", image, "claude", "--version"]
        wrapped = ["zsh", "-f", "-c", f"{plugin_setup()}; claude --version"]
        helper = [sys.executable, "-I", "-m", "claude_docker", "run", "--", "--version"]
        subprocess.run(wrapped, env=env, cwd=project, check=True, stdout=subprocess.DEVNULL)
        medians = interleaved({
            "bare": lambda: time_command(bare, env, project),
            "function": lambda: time_command(wrapped, env, project),
            "helper": lambda: time_command(helper, env, project),
        }, rounds)
    ratio = medians["function"] / medians["bare"]
    report("claude --version startup",
           f"bare docker run {medians['bare'] * 1000:.0f} ms, through `claude` {medians['function'] * 1000:.0f} ms "
           f"({ratio:.3f}x; helper alone {medians['helper'] / medians['bare']:.3f}x)",
           ratio <= GOAL_RATIO)
    return ratio <= GOAL_RATIO


if __name__ == "__main__":
    raise SystemExit(0 if main(sys.argv[1]) else 1)
