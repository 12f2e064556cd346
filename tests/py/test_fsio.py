import json
import os
import signal
import subprocess
import sys
import time

from claude_docker.fsio import append_durable, remove_durable, write_atomic


def test_write_atomic_replaces_and_keeps_mode(tmp_path):
    f = tmp_path / "c.json"
    f.write_text("old")
    f.chmod(0o640)
    write_atomic(f, b"new")
    assert f.read_text() == "new"
    assert f.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temp file left


def test_write_atomic_new_file_is_private(tmp_path):
    f = tmp_path / "n.json"
    write_atomic(f, b"{}")
    assert f.stat().st_mode & 0o777 == 0o600


def test_write_atomic_writes_through_symlinks(tmp_path):
    real = tmp_path / "dotfiles" / "settings.json"
    real.parent.mkdir()
    real.write_text("{}")
    link = tmp_path / "settings.json"
    link.symlink_to(real)
    write_atomic(link, b'{"a": 1}')
    assert link.is_symlink()
    assert real.read_text() == '{"a": 1}'


def test_append_and_remove(tmp_path):
    f = tmp_path / "h.jsonl"
    append_durable(f, b'{"a":1}\n')
    append_durable(f, b'{"b":2}\n')
    assert f.read_text().splitlines() == ['{"a":1}', '{"b":2}']
    remove_durable(f)
    remove_durable(f)  # gone already: fine
    assert not f.exists()


WRITER = """
import sys
from pathlib import Path
from claude_docker.fsio import write_atomic
target = Path(sys.argv[1])
payload = {"blob": "x" * 200_000}
i = 0
while True:
    i += 1
    payload["n"] = i
    write_atomic(target, __import__("json").dumps(payload).encode())
"""


def test_sigkill_during_writes_never_leaves_a_torn_file(tmp_path):
    target = tmp_path / "config.json"
    target.write_text(json.dumps({"n": 0}))
    for _ in range(15):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
        time.sleep(0.05 + (os.getpid() % 7) / 100)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert isinstance(json.loads(target.read_text())["n"], int)
