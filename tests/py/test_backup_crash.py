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

from claude_docker.backup.configcheck import quick_check
from claude_docker.backup.store import Store
from claude_docker.paths import ClaudeHome
from synthstate import append_turns, make_state
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


def _store_is_consistent(checked: set) -> None:
    """Every listed backup is whole: each chunk there and hashing right. (A restore backs up the broken state
    it finds: that one is whole but no recovery point, which is what it is for.) Backups never change once
    listed, so each is read once."""
    for sid in sorted(set(Store().snapshot_ids()) - checked):
        result = cli("backup", "verify", sid, "--json")
        assert not json.loads(result.stdout)[0]["damaged"], result.stdout
        checked.add(sid)


def _timed(*args) -> float:
    start = time.monotonic()
    assert subprocess.run([sys.executable, "-I", "-m", "claude_docker", *args], capture_output=True).returncode == 0
    return time.monotonic() - start


def test_sigkill_during_backups_never_lists_a_partial_one(home):
    transcripts = make_state(home, 48 << 20, 200)
    assert cli("backup", "create", "--quiet").returncode == 0
    append_turns(transcripts, 0.25, 400_000, seed=100)
    took = _timed("backup", "create", "--quiet")  # what one round's backup takes, uninterrupted
    rng = random.Random(7)
    checked: set = set()
    killed = 0
    for round_ in range(KILLS):
        append_turns(transcripts, 0.25, 400_000, seed=round_)
        killed += _kill_after(_start("backup", "create", "--quiet"), rng.uniform(0.02, 0.9 * took))
        _store_is_consistent(checked)
    assert killed >= KILLS // 3, f"only {killed} kills landed mid-backup (one takes {took:.2f}s)"
    done = cli("backup", "create", "--json")
    assert done.returncode == 0, done.stderr
    _store_is_consistent(checked)
    # What the killed runs left behind (unreferenced chunks, temp files) goes at the next prune.
    assert cli("backup", "prune", "--keep-last", "100").returncode == 0
    assert not list(Store().root.rglob("*.cd-tmp-*"))
    _store_is_consistent(checked)


def test_sigkill_during_restores_leaves_a_valid_config_and_a_rerun_finishes(home):
    make_state(home, 48 << 20, 200)
    claude = ClaudeHome.from_env()
    assert cli("backup", "create", "--quiet").returncode == 0
    good = tree(home / ".claude")
    good_json = (home / ".claude.json").read_bytes()

    def break_it():
        shutil.rmtree(home / ".claude", ignore_errors=True)
        (home / ".claude.json").write_text('{"broken": ')

    break_it()
    took = _timed("dr", "--yes", "--no-smoke")  # a whole recovery, uninterrupted
    rng = random.Random(11)
    killed = 0
    for _ in range(KILLS):
        break_it()
        killed += _kill_after(_start("dr", "--yes", "--no-smoke"), rng.uniform(0.02, 0.9 * took))
        # Whatever the instant: each config file there is whole, old or new, never torn.
        problems = quick_check(claude)
        assert problems in ([], [".claude.json is not valid JSON (Expecting value: line 1 column 12 (char 11))"])
        for path in (home / ".claude").glob("*.json") if (home / ".claude").exists() else []:
            json.loads(path.read_text())
    assert killed >= KILLS // 3, f"only {killed} kills landed mid-recovery (one takes {took:.2f}s)"
    result = cli("dr", "--yes", "--no-smoke")
    assert result.returncode == 0, result.stderr
    after = tree(home / ".claude")
    after.pop(".claude-docker-sync.lock", None)
    assert after == good and (home / ".claude.json").read_bytes() == good_json
    assert not list(home.glob(".claude-docker-restore-*"))  # killed runs' staging is cleared
    _store_is_consistent(set())
