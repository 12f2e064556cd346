"""Plugin source cost: an interactive zsh that sources ai-assistant.zsh vs one that doesn't (goal: ≤ 5 ms added)."""

from __future__ import annotations

import os
import sys

from common import ROOT, interleaved, report, time_command

GOAL_MS = 5.0


def main(rounds: int = 40) -> bool:
    env = dict(os.environ, CLAUDE_DOCKER_PYTHON=sys.executable)
    bare = ["zsh", "-f", "-i", "-c", "exit"]
    plugin = ["zsh", "-f", "-i", "-c", f"source {ROOT / 'ai-assistant.zsh'}; exit"]
    medians = interleaved({"bare": lambda: time_command(bare, env),
                           "plugin": lambda: time_command(plugin, env)}, rounds)
    added = (medians["plugin"] - medians["bare"]) * 1000
    report("plugin source cost",
           f"bare zsh {medians['bare'] * 1000:.1f} ms, with plugin {medians['plugin'] * 1000:.1f} ms: "
           f"+{added:.2f} ms ({medians['plugin'] / medians['bare']:.3f}x)", added <= GOAL_MS)
    return added <= GOAL_MS


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
