"""The rollout's costs, side by side in one run:
- on a `claude` start: the slot choice (imports, state read, the gates from the rollup, the draw) with a
  rollout in progress, held past its interval for sessions, vs with none, each in a fresh interpreter as the
  wrapper runs it (goal: ≤ 2 ms added); and the rarer start that must analyze (a session line newer than the
  last judgement: its wrapper was killed before judging it);
- the analysis over 100,000 recorded sessions: from scratch (every line folded) and from the persisted rollup
  (goal: ≤ 100 ms)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import clean_env

ADDED_GOAL_MS = 2.0
ANALYSIS_GOAL_MS = 100.0
SESSIONS = 100_000
ROUNDS = 41

# What the wrapper does to pick the slot when the user set no image, timed from before the first rollout import,
# with what the wrapper has imported by then already imported.
CHOOSE = """
import time
import claude_docker.launcher.run
t = time.perf_counter()
from claude_docker.rollout.session import at_start
at_start("stable:1", None, 0.0, "/project")
print((time.perf_counter() - t) * 1000)
"""

A = {"image": "stable:1", "id": "sha256:" + "a" * 64}
B = {"image": "cand:2", "id": "sha256:" + "b" * 64}


def _choose_ms(env: dict) -> float:
    done = subprocess.run([sys.executable, "-I", "-c", CHOOSE], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout)


def _record(home: Path, count: int, now: float) -> str:
    """A rollout in progress in `home`, with `count` sessions recorded over its window."""
    os.environ["HOME"] = str(home)
    os.environ["CLAUDE_DOCKER_BACKGROUND_FLUSH"] = "0"  # no detached flush into a HOME about to be removed
    from claude_docker.rollout import controller, records
    from claude_docker.rollout import plan as plans
    from claude_docker.rollout import state as states

    controller.start(B, A, plans.make(min_sessions=10 ** 9, interval=60.0, window=300.0), "auto", 0.1, "passed")
    with states.lock():  # started two minutes ago: past its first interval, holding for sessions
        state = states.load()
        state["deployment"]["started"] = state["deployment"]["step_started"] = now - 120
        states.save(state)
    dep = states.load()["deployment"]
    classes = ("ok",) * 17 + ("claude_error", "interrupted", "error")
    lines = [records.line(now - 290 + 290 * i / count, dep["plan"], 0, "v2" if i % 10 == 0 else "v1",
                          classes[i % len(classes)], 0.3 + (i % 97) / 10) for i in range(count)]
    records.log_path(dep["id"]).write_bytes(b"".join(lines))
    return dep["id"]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="claude-docker-bench-") as tmp:
        none_home, busy_home = Path(tmp) / "none", Path(tmp) / "busy"
        none_home.mkdir()
        busy_home.mkdir()
        now = time.time()
        dep_id = _record(busy_home, SESSIONS, now)
        from claude_docker.rollout import controller, records
        from claude_docker.rollout import state as states

        dep = states.load()["deployment"]
        cold, warm = [], []
        for _ in range(7):
            records.rollup_path(dep_id).unlink(missing_ok=True)
            t = time.perf_counter()
            controller.analyze(dep, now, persist=False)
            cold.append(time.perf_counter() - t)
            controller.analyze(dep, now, persist=True)  # the rollup a session's end leaves
            t = time.perf_counter()
            controller.analyze(dep, now, persist=False)
            warm.append(time.perf_counter() - t)
        cold_ms, warm_ms = statistics.median(cold) * 1000, statistics.median(warm) * 1000

        envs = {"none": clean_env(HOME=str(none_home)), "rollout": clean_env(HOME=str(busy_home))}
        samples: dict[str, list[float]] = {name: [] for name in [*envs, "judging"]}
        log = records.log_path(dep_id)
        for round_ in range(ROUNDS + 3):
            for name, env in envs.items():
                ms = _choose_ms(env)
                if round_ >= 3:  # warm-up rounds: page cache, pyc
                    samples[name].append(ms)
            os.utime(log)  # a line the rollup hasn't judged: the next start analyzes (and judges it)
            ms = _choose_ms(envs["rollout"])
            if round_ >= 3:
                samples["judging"].append(ms)
        none_ms, busy_ms = statistics.median(samples["none"]), statistics.median(samples["rollout"])
        judging_ms = statistics.median(samples["judging"])
        added = busy_ms - none_ms
    print(f"rollout at a claude start: slot choice {busy_ms:.2f} ms with a rollout in progress vs {none_ms:.2f} ms "
          f"with none: {added:+.2f} ms added (goal ≤ {ADDED_GOAL_MS:g} ms; ratio {busy_ms / none_ms:.2f}x); "
          f"a start that analyzes: {judging_ms - none_ms:+.2f} ms")
    print(f"analysis over {SESSIONS:,} recorded sessions: {cold_ms:.1f} ms from scratch, {warm_ms:.2f} ms from the "
          f"persisted rollup (goal ≤ {ANALYSIS_GOAL_MS:g} ms; {cold_ms / ANALYSIS_GOAL_MS:.2f}x of it)")
    return 0 if added <= ADDED_GOAL_MS and cold_ms <= ANALYSIS_GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
