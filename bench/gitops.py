"""GitOps on a team repository of 200 managed files (190 output styles, CLAUDE.md, settings keys), side by side
in one run: detect_drift (in process, and as the `gitops drift` command) against `git status` on the same
repository, and a no-change `reconcile --no-fetch` against the CLI's own floor (`claude-docker --version`).
Goals: detect_drift ≤ 50 ms, a no-change reconcile without fetch ≤ 150 ms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import clean_env, interleaved, report, time_command

DRIFT_GOAL_MS = 50.0
NOCHANGE_GOAL_MS = 150.0
ROUNDS = 15


def make_repo(work: Path) -> None:
    styles = work / "claude" / "output-styles"
    styles.mkdir(parents=True)
    for i in range(190):
        (styles / f"style-{i:03}.md").write_text(f"Answer in style {i}.\n" * 20)
    (work / "claude" / "CLAUDE.md").write_text("Team rules.\n" * 50)
    settings = {"model": "team-model", "theme": "dark", "verbose": False,
                "permissions": {"deny": ["Read(./.env)"], "ask": ["Bash(git push:*)"]}}
    settings.update(showTurnDuration=True, showMessageTimestamps=True, autoScrollEnabled=False, outputStyle="style-1")
    (work / "claude" / "settings.json").write_text(json.dumps(settings))
    git = ["git", "-C", str(work), "-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "team config"], check=True)


def main() -> bool:
    with tempfile.TemporaryDirectory(prefix="claude-docker-bench-") as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "team"
        home.mkdir()
        make_repo(work)
        env = clean_env(HOME=str(home), CLAUDE_DOCKER_STATE_DIR=str(Path(tmp) / "state"),
                        CLAUDE_DOCKER_BACKUP_INTERVAL="0", CLAUDE_DOCKER_BACKGROUND_FLUSH="0")
        cli = [sys.executable, "-m", "claude_docker"]
        subprocess.run([*cli, "gitops", "init", str(work), "--no-smoke"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([*cli, "gitops", "reconcile"], env=env, check=True, stdout=subprocess.DEVNULL)
        assert subprocess.run([*cli, "gitops", "drift"], env=env, stdout=subprocess.DEVNULL).returncode == 0
        managed = json.loads(subprocess.run([*cli, "gitops", "status", "--json"], env=env, check=True,
                                            capture_output=True).stdout)["items"]

        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            from claude_docker.gitops import drift

            def in_process() -> float:
                start = time.perf_counter()
                assert drift.detect()["status"] == drift.IN_SYNC
                return time.perf_counter() - start

            found = interleaved({
                "detect (in process)": in_process,
                "gitops drift": lambda: time_command([*cli, "gitops", "drift"], env),
                "git status": lambda: time_command(["git", "-C", str(work), "status", "--short"], env),
                "reconcile --no-fetch": lambda: time_command([*cli, "gitops", "reconcile", "--no-fetch"], env),
                "claude-docker --version": lambda: time_command([*cli, "--version"], env),
            }, ROUNDS)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    ms = {k: v * 1000 for k, v in found.items()}
    drift_ok = ms["detect (in process)"] <= DRIFT_GOAL_MS
    report("detect_drift, 200 managed files",
           f"{managed} items: {ms['detect (in process)']:.1f} ms in process, {ms['gitops drift']:.0f} ms as a "
           f"command; git status {ms['git status']:.1f} ms ({ms['gitops drift'] / ms['git status']:.1f}x)", drift_ok)
    nochange_ok = ms["reconcile --no-fetch"] <= NOCHANGE_GOAL_MS
    report("reconcile, nothing new (no fetch)",
           f"{ms['reconcile --no-fetch']:.0f} ms; the CLI's floor (--version) {ms['claude-docker --version']:.0f} ms "
           f"({ms['reconcile --no-fetch'] / ms['claude-docker --version']:.1f}x)", nochange_ok)
    return drift_ok and nochange_ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
