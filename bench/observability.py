"""Observability costs: in-process event append rate (goal ≥ 50,000/s), the `log_event` shim as a whole
process (goal ≤ 30 ms), and what recording adds to a `claude` start (side by side with it switched off)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from common import interleaved, plugin_setup, report, time_command

APPEND_GOAL = 50_000
SHIM_GOAL_MS = 30.0


def append_rate(home: Path, seconds: float = 2.0) -> float:
    os.environ["HOME"] = str(home)
    from claude_docker.obs import events

    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            events.emit("bench.append", fields={"n": count, "phase": "steady"})
        count += 1000
    return count / (time.perf_counter() - start)


def main(image: str) -> bool:
    ok = True
    with tempfile.TemporaryDirectory(prefix="claude-docker-bench-") as tmp:
        home = Path(tmp) / "home"
        (home / "project").mkdir(parents=True)
        rate = append_rate(home)
        ok &= rate >= APPEND_GOAL
        report("event append rate (in-process)", f"{rate:,.0f} events/s", rate >= APPEND_GOAL)

        env = dict(os.environ, HOME=str(home), CLAUDE_DOCKER_IMAGE=image, CLAUDE_DOCKER_NETWORK="none",
                   CLAUDE_DOCKER_BACKGROUND_FLUSH="0")
        env.pop("CLAUDE_DOCKER_PYTHON", None)
        shim = ["zsh", "-f", "-c", f"{plugin_setup()}; log_event bench.shim step=1 'message=a b'"]
        python = [sys.executable, "-I", "-c", "pass"]
        medians = interleaved({"shim": lambda: time_command(shim, env),
                               "python": lambda: time_command(python, env)}, 30)
        ms = medians["shim"] * 1000
        ok &= ms <= SHIM_GOAL_MS
        report("log_event shim, whole process", f"{ms:.1f} ms (a bare interpreter start: "
               f"{medians['python'] * 1000:.1f} ms)", ms <= SHIM_GOAL_MS)

        run = ["zsh", "-f", "-c", f"{plugin_setup()}; claude --version"]
        off = dict(env, CLAUDE_DOCKER_OBSERVABILITY="0")
        medians = interleaved({"off": lambda: time_command(run, off, home / "project"),
                               "on": lambda: time_command(run, env, home / "project")}, 15)
        added = (medians["on"] - medians["off"]) * 1000
        report("observability cost on claude start", f"off {medians['off'] * 1000:.0f} ms, on "
               f"{medians['on'] * 1000:.0f} ms: {medians['on'] / medians['off']:.3f}x ({added:+.0f} ms)", True)
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main(sys.argv[1]) else 1)
