"""The one lock discipline (locking.py): a kernel flock on a lock file that stays, with a timeout."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.locking import config_lock, locked

HOLD_OURS = """
import sys
from pathlib import Path
from claude_docker.locking import locked
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""
# What filelock did for earlier versions of the tool: flock on the same file.
HOLD_RAW_FLOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def start_holder(code: str, path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline() == "held\n"
    return holder


def stop(holder: subprocess.Popen) -> None:
    if holder.poll() is None:
        holder.kill()
    holder.wait(timeout=10)


@pytest.mark.parametrize("code", [HOLD_OURS, HOLD_RAW_FLOCK], ids=["this version", "flock as filelock took it"])
def test_a_holder_in_another_process_excludes_us_until_the_timeout(tmp_path, code):
    path = tmp_path / "x.lock"
    holder = start_holder(code, path)
    try:
        start = time.monotonic()
        with pytest.raises(ToolError) as caught, locked(path, timeout=0.3, code=exitcodes.SYNC_FAILED):
            pytest.fail("took a lock another process holds")
        assert 0.3 <= time.monotonic() - start < 2
        assert caught.value.code == exitcodes.SYNC_FAILED
        assert caught.value.message == f"timed out after 0.3s waiting for the lock {path}"
    finally:
        stop(holder)


def test_we_exclude_a_holder_in_another_process(tmp_path):
    path = tmp_path / "x.lock"
    with locked(path):
        waiter = subprocess.run([sys.executable, "-c", HOLD_RAW_FLOCK.replace("fcntl.LOCK_EX)", "fcntl.LOCK_EX | "
                                                                              "fcntl.LOCK_NB)"), str(path)],
                                capture_output=True, text=True, timeout=30, input="")
        assert waiter.returncode != 0 and "BlockingIOError" in waiter.stderr
    # Released: the same waiter gets it now.
    waiter = subprocess.run([sys.executable, "-c", HOLD_RAW_FLOCK.replace("fcntl.LOCK_EX)", "fcntl.LOCK_EX | "
                                                                          "fcntl.LOCK_NB)"), str(path)],
                            capture_output=True, text=True, timeout=30, input="")
    assert waiter.returncode == 0 and waiter.stdout == "held\n"


def test_a_sigkilled_holder_releases_the_lock(tmp_path):
    path = tmp_path / "x.lock"
    holder = start_holder(HOLD_OURS, path)
    try:
        os.kill(holder.pid, signal.SIGKILL)
        start = time.monotonic()
        with locked(path, timeout=10):
            waited = time.monotonic() - start
        assert waited < 2
    finally:
        stop(holder)


def test_the_lock_file_stays_private_and_in_place(tmp_path):
    path = tmp_path / "x.lock"
    with locked(path):
        inode = os.stat(path).st_ino
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with locked(path):
        assert os.stat(path).st_ino == inode  # never removed: a waiter on an unlinked file would lock nothing


def test_two_threads_of_one_process_exclude_each_other(tmp_path):
    path = tmp_path / "x.lock"
    inside, overlaps = [], []

    def work():
        for _ in range(20):
            with locked(path):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                time.sleep(0.001)
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []


def test_a_planted_link_or_fifo_is_no_lock(tmp_path):
    link = tmp_path / "link.lock"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ToolError, match=f"cannot take the lock: .*{link}") as refused, \
            locked(link, timeout=0.1, code=exitcodes.SYNC_FAILED):
        pass
    assert refused.value.code == exitcodes.SYNC_FAILED  # the caller's status: sync out's is 122
    assert not (tmp_path / "elsewhere").exists()
    fifo = tmp_path / "fifo.lock"
    os.mkfifo(fifo)
    with pytest.raises(ToolError, match="is not a regular file") as refused, \
            locked(fifo, timeout=0.1, code=exitcodes.SYNC_FAILED):
        pass
    assert refused.value.code == exitcodes.SYNC_FAILED


def test_the_config_lock_is_beside_the_config_under_its_real_path(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    with config_lock(tmp_path / "alias"), pytest.raises(ToolError), config_lock(real, timeout=0.1):
        pass
    assert (real / ".claude-docker-sync.lock").is_file()
