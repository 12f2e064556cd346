"""A full disk, for real: HOME (and the state dir in it) on a 2 MB tmpfs, filled up. Every path gives its
documented exit status and one line naming where space is missing, and works again once space is freed."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from shell import helper, plugin_env, run_claude

pytestmark = pytest.mark.docker

FULL = "no space left on the file system holding"


@pytest.fixture
def small_home(home):
    """`home` itself on a tmpfs of 2 MB (mounted over it, unmounted after)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(home)], check=True)
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], check=True)


@pytest.fixture
def env(small_home, fake_image):
    (small_home / ".claude").mkdir()
    (small_home / ".claude.json").write_text(json.dumps({"numStartups": 1}, indent=2))
    (small_home / "work" / "p").mkdir(parents=True)
    return plugin_env(small_home, fake_image, CLAUDE_DOCKER_BACKGROUND_FLUSH="0")


def fill(path: Path) -> Path:
    """Write zeros to `path` until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return path


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_full_disk_at_sync_out_is_122_with_one_line_and_cleanup_finishes_once_freed(env, small_home):
    # The session rewrites .claude.json, then fills the disk (its staged HOME is on it): sync-out, and the
    # failure path after it, find no space.
    script = ('echo "{\\"numStartups\\": 7}" > "$HOME/.claude.json.t" && mv "$HOME/.claude.json.t" "$HOME/.claude.json"'
              ' && (dd if=/dev/zero of="$HOME/fill" bs=64k 2>/dev/null; true)')
    result = run_claude(small_home / "work" / "p", env, "sh", script)
    assert result.returncode == 122
    line = one_line(result.stderr)
    assert f"{FULL} {small_home}/.claude.json" in line and "claude-docker cleanup" in line
    [session] = (small_home / ".claude-docker" / "sessions").iterdir()

    still = helper(env, "cleanup")  # still full: that session fails, said in one line, cleanup exits 122
    assert still.returncode == 122, still.stderr
    assert f"could not sync back session {session.name}: cannot sync the config back: {FULL}" in still.stdout

    (session / "home" / "fill").unlink()
    freed = helper(env, "cleanup")
    assert freed.returncode == 0, freed.stderr
    assert json.loads((small_home / ".claude.json").read_text())["numStartups"] == 7
    assert not session.exists()


def test_a_full_disk_at_start_is_125_naming_the_path_and_leaves_nothing(env, small_home):
    filler = fill(small_home / "filler")
    result = run_claude(small_home / "work" / "p", env, "--version")
    assert result.returncode == 125
    assert f"{FULL} {small_home}/.claude-docker/sessions/" in one_line(result.stderr)
    assert not list((small_home / ".claude-docker" / "sessions").iterdir())  # no half-made session dir
    filler.unlink()
    again = run_claude(small_home / "work" / "p", env, "--version")
    assert again.returncode == 0, again.stderr


def test_log_event_and_backup_on_a_full_disk_name_the_path(env, small_home):
    filler = fill(small_home / "filler")
    logged = helper(env, "log-event", "deploy", "step=1")
    assert logged.returncode == 1
    assert f"{small_home}/.claude-docker-events.jsonl" in one_line(logged.stderr)
    backup = helper(env, "backup", "create")
    assert backup.returncode == 1
    assert "backup failed" in one_line(backup.stderr) and str(small_home) in backup.stderr
    flushed = helper(env, "flush")
    assert flushed.returncode == 1 and FULL in flushed.stderr and "Errno" not in flushed.stderr
    filler.unlink()
    assert helper(env, "log-event", "deploy", "step=2").returncode == 0
    assert helper(env, "backup", "create").returncode == 0
    assert helper(env, "flush").returncode == 0
