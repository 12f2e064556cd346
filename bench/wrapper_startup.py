"""`claude --version` through the zsh function vs a bare `docker run` of the same image (goal: ≤ 1.25x)."""

from __future__ import annotations

import shutil
import subprocess
import sys

from common import interleaved, plugin_setup, report, time_command, user_home

GOAL_RATIO = 1.25


def main(image: str, rounds: int = 15) -> bool:
    with user_home(image, CLAUDE_DOCKER_NETWORK="none") as (project, env):
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
