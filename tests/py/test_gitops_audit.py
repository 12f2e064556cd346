"""The GitOps audit trail: the hash chain holds, and every kind of tampering with it is named."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claude_docker.gitops import audit


def _trail(tmp_path: Path, count: int = 5) -> Path:
    path = tmp_path / "gitops" / "audit.jsonl"
    for n in range(1, count + 1):
        audit.append(path, {"event": "apply", "revision": f"rev{n}"})
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def test_an_intact_chain_verifies(tmp_path):
    path = _trail(tmp_path)
    entries = audit.read(path)
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == audit.GENESIS
    assert all(b["prev"] == a["hash"] for a, b in zip(entries, entries[1:]))
    assert entries[2]["revision"] == "rev3"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entries[0]["time"])
    assert audit.verify(path) == (5, [])
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_append_returns_what_it_wrote_and_refuses_chain_fields(tmp_path):
    path = tmp_path / "audit.jsonl"
    written = audit.append(path, {"event": "drift"})
    assert audit.read(path) == [written]
    with pytest.raises(ValueError, match="seq"):
        audit.append(path, {"event": "x", "seq": 9})


def test_no_trail_is_empty_and_sound(tmp_path):
    assert audit.read(tmp_path / "none.jsonl") == []
    assert audit.verify(tmp_path / "none.jsonl") == (0, [])
    assert audit.verify(tmp_path / "no dir" / "none.jsonl") == (0, [])


def test_an_edited_entry_is_named(tmp_path):
    path = _trail(tmp_path)
    lines = _lines(path)
    lines[3] = lines[3].replace("rev4", "rev9")
    _write(path, lines)
    assert audit.verify(path) == (5, ["entry 4: edited (its hash doesn't match)"])


def test_an_edited_and_rehashed_entry_breaks_the_next_link(tmp_path):
    path = _trail(tmp_path)
    lines = _lines(path)
    entry = json.loads(lines[2])
    entry["revision"] = "forged"
    entry["hash"] = audit._hash(entry)
    lines[2] = json.dumps(entry)
    _write(path, lines)
    assert audit.verify(path)[1] == ["entry 4: doesn't follow entry 3 (its prev doesn't match that hash)"]


def test_a_removed_entry_is_named(tmp_path):
    path = _trail(tmp_path, 8)
    lines = _lines(path)
    del lines[6]
    _write(path, lines)
    assert audit.verify(path) == (7, ["entry 7: removed (seq jumps 6 -> 8)"])
    del lines[1:3]
    _write(path, lines)
    assert audit.verify(path)[1] == ["entries 2-3: removed (seq jumps 1 -> 4)", "entry 7: removed (seq jumps 6 -> 8)"]


def test_removed_last_entries_stay_detected_after_the_next_append(tmp_path):
    path = _trail(tmp_path, 9)
    _write(path, _lines(path)[:7])
    assert audit.verify(path) == (7, ["the last 2 entries were removed (the head says 9)"])
    written = audit.append(path, {"event": "apply"})
    assert written["seq"] == 10  # not a second entry 8
    assert audit.verify(path)[1] == ["entries 8-9: removed (seq jumps 7 -> 10)"]


def test_a_removed_whole_trail_is_detected_by_its_head(tmp_path):
    path = _trail(tmp_path, 3)
    path.unlink()
    assert audit.verify(path) == (0, ["the last 3 entries were removed (the head says 3)"])


def test_reordered_entries_are_named(tmp_path):
    path = _trail(tmp_path)
    lines = _lines(path)
    lines[1], lines[2] = lines[2], lines[1]
    _write(path, lines)
    assert audit.verify(path) == (5, ["entry 2: reordered (it comes after entry 3)"])


def test_entries_appended_by_hand_are_named(tmp_path):
    path = _trail(tmp_path)
    lines = _lines(path)
    last = json.loads(lines[-1])
    forged = {"seq": 6, "time": last["time"], "prev": last["hash"], "event": "apply", "hash": "0" * 64}
    _write(path, [*lines, lines[1], json.dumps(forged), '{"event": "apply"}'])
    _count, problems = audit.verify(path)
    assert problems == ["line 8: damaged (not an audit entry (no seq, prev or hash))",
                        "entry 2: duplicated (it is there twice)",
                        "entry 6: edited (its hash doesn't match)"]


def test_correctly_hashed_entries_added_past_the_head_are_named(tmp_path):
    """Someone who rebuilds the hashes by hand still can't move the head file along without it showing."""
    path = _trail(tmp_path, 2)
    lines = _lines(path)
    prev = json.loads(lines[-1])["hash"]
    for seq in (3, 4):
        entry = {"seq": seq, "time": "2030-01-01T00:00:00Z", "prev": prev, "event": "apply"}
        entry["hash"] = prev = audit._hash(entry)
        lines.append(json.dumps(entry))
    _write(path, lines)
    assert audit.verify(path)[1] == ["entries after 2 were not added by an append (the head says 2)"]
    audit.head_path(path).unlink()
    assert audit.verify(path)[1] == ["the head file audit.jsonl.head is missing"]
    audit.head_path(path).write_text("{")
    assert audit.verify(path)[1][0] == "the head file audit.jsonl.head is damaged (not JSON)"


def test_a_torn_last_line_is_reported_and_the_next_entry_starts_a_line(tmp_path):
    path = _trail(tmp_path, 3)
    with open(path, "ab") as f:
        f.write(b'{"seq": 4, "prev": "ab')  # a write cut short (a full disk, a power loss)
    assert audit.verify(path) == (3, ["line 4: damaged (not JSON)"])
    written = audit.append(path, {"event": "apply"})
    assert written["seq"] == 4
    assert audit.read(path)[-1] == written
    assert audit.verify(path) == (4, ["line 4: damaged (not JSON)"])


def test_the_last_entry_is_found_behind_long_lines(tmp_path):
    """The tail is read back in blocks: an entry longer than one block is still found whole."""
    path = tmp_path / "audit.jsonl"
    audit.append(path, {"files": ["x" * 100] * 2000})  # ~200 KB, over three blocks
    audit.append(path, {"event": "apply"})
    assert [e["seq"] for e in audit.read(path)] == [1, 2]
    assert audit.verify(path) == (2, [])


def test_digest_is_keyed_and_never_the_value(tmp_path):
    value = {"token": "s3cret-value", "args": [1, 2.5, None, True]}
    reordered = {"args": [1, 2.5, None, True], "token": "s3cret-value"}
    one = audit.digest(value, b"key one")
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{32}", one)
    assert "s3cret" not in one
    assert audit.digest(reordered, b"key one") == one
    assert audit.digest(value, b"key two") != one
    assert audit.digest({**value, "token": "s3cret-valuf"}, b"key one") != one


APPENDER = """
import sys
from pathlib import Path
from claude_docker.gitops import audit
path, who, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for n in range(count):
    audit.append(path, {"event": "apply", "who": who, "n": n})
"""


def test_concurrent_appends_from_processes_keep_the_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(path), str(who), "25"]) for who in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    entries = audit.read(path)
    assert [e["seq"] for e in entries] == list(range(1, 101))
    assert sorted((e["who"], e["n"]) for e in entries) == [(str(w), n) for w in range(4) for n in range(25)]
    assert audit.verify(path) == (100, [])


def test_sigkill_during_appends_leaves_the_chain_verifiable(tmp_path):
    path = tmp_path / "audit.jsonl"
    for round_ in range(6):
        before = len(audit.read(path))
        proc = subprocess.Popen([sys.executable, "-c", APPENDER, str(path), f"killed{round_}", "100000"])
        deadline = time.monotonic() + 30
        while len(audit.read(path)) < before + 3 + round_ and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        count, problems = audit.verify(path)
        assert problems == [], f"round {round_}"
        assert count > before
    written = audit.append(path, {"event": "after"})
    assert written["seq"] == len(audit.read(path))
    assert audit.verify(path)[1] == []
