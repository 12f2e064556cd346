"""SIGKILL during backup and during restore, again and again: the store stays consistent (every listed
backup verifies, a partial one is never listed) and the host's config is always valid."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

from synthstate import append_turns, make_state

from claude_docker.backup.configcheck import quick_check
from claude_docker.backup.store import Store
from claude_docker.paths import ClaudeHome

from test_backup import cli, tree

KILLS = 12


def _start(*args):
    return subprocess.Popen([sys.executable, "-I", "-m", "claude_docker", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _kill_after(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL the process we started after `delay`; False if it had already finished."""
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def _store_is_consistent(broken_json_allowed: bool = False) -> None:
    """Every listed backup is whole: each chunk there and hashing right. (A backup of a broken state, as a
    restore takes first, holds the broken JSON as it was: that is what it is for.)"""
    result = cli("backup", "verify", "--json")
    problems = [p for r in json.loads(result.stdout) for p in r["problems"]]
    if broken_json_allowed:
        problems = [p for p in problems if not p.startswith(".claude.json is not valid JSON")]
    assert not problems, result.stdout


def test_sigkill_during_backups_never_lists_a_partial_one(home):
    transcripts = make_state(home, 48 << 20, 200)
    rng = random.Random(7)
    killed = 0
    for round_ in range(KILLS):
        append_turns(transcripts, 0.2, 200_000, seed=round_)
        proc = _start("backup", "create", "--quiet")
        killed += _kill_after(proc, rng.uniform(0.05, 1.2))
        _store_is_consistent()
    assert killed >= KILLS // 2, "the kills came too late to test anything"
    done = cli("backup", "create", "--json")
    assert done.returncode == 0, done.stderr
    _store_is_consistent()
    # What the killed runs left behind (unreferenced chunks, temp files) goes at the next prune.
    assert cli("backup", "prune", "--keep-last", "100").returncode == 0
    assert not [p for p in (Store().chunks).rglob(".*.cd-tmp-*")]
    _store_is_consistent()


def test_sigkill_during_restores_leaves_a_valid_config_and_a_rerun_finishes(home):
    make_state(home, 48 << 20, 200)
    claude = ClaudeHome.from_env()
    assert cli("backup", "create", "--quiet").returncode == 0
    good = tree(home / ".claude")
    good_json = (home / ".claude.json").read_bytes()
    rng = random.Random(11)
    killed = 0
    for _ in range(KILLS):
        shutil.rmtree(home / ".claude", ignore_errors=True)
        (home / ".claude.json").write_text('{"broken": ')
        proc = _start("dr", "--yes", "--no-smoke")
        killed += _kill_after(proc, rng.uniform(0.05, 1.5))
        # Whatever the instant: each config file there is whole, old or new, never torn.
        problems = quick_check(claude)
        assert problems in ([], [".claude.json is not valid JSON (Expecting value: line 1 column 12 (char 11))"])
        for path in (home / ".claude").glob("*.json") if (home / ".claude").exists() else []:
            json.loads(path.read_text())
    assert killed >= KILLS // 2, "the kills came too late to test anything"
    result = cli("dr", "--yes", "--no-smoke")
    assert result.returncode == 0, result.stderr
    after = tree(home / ".claude")
    after.pop(".claude-docker-sync.lock", None)
    assert after == good and (home / ".claude.json").read_bytes() == good_json
    assert not list(home.glob(".claude-docker-restore-*"))  # killed runs' staging is cleared
    _store_is_consistent(broken_json_allowed=True)
