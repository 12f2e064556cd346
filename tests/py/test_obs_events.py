"""The event log: schema, exact values from the shell, many writers, rotation, time windows."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys

import pytest

from claude_docker.obs import jsonl

EVENTS_SCHEMA_KEYS = {"time", "level", "event", "message", "trace_id", "span_id", "session", "project", "slot",
                      "duration_ms", "outcome", "fields"}


def log_event(home, *args: bytes | str, env=None):
    argv = [sys.executable, "-I", "-m", "claude_docker", "log-event", *args]
    return subprocess.run(argv, capture_output=True, env={"HOME": str(home), "PATH": os.environ["PATH"], **(env or {})},
                          timeout=30)


def events(home) -> list[dict]:
    """Every event, in all the log's generations (rotation may have happened)."""
    return [json.loads(line) for f in jsonl.generations(home / ".claude-docker-events.jsonl")
            for line in f.read_bytes().splitlines()]


def test_schema_and_settable_keys(home):
    result = log_event(home, "deploy.step", "level=warn", "message=half done", "outcome=partial", "duration_ms=12.5",
                       "step=3")
    assert result.returncode == 0, result.stderr
    [e] = events(home)
    assert set(e) <= EVENTS_SCHEMA_KEYS
    assert e["event"] == "deploy.step" and e["level"] == "warn" and e["message"] == "half done"
    assert e["outcome"] == "partial" and e["duration_ms"] == 12.5 and e["fields"] == {"step": "3"}
    assert len(e["trace_id"]) == 32 and len(e["span_id"]) == 16
    assert e["time"].endswith("Z") and len(e["time"]) == len("2026-01-01T00:00:00.000Z")


def test_values_keep_their_text_exactly(home):
    tricky = ['say "hi"', "back\\slash", "two\nlines", "ctrl\x01\x1b[31m", "tab\tand unicode ✓", "", "a=b=c"]
    result = log_event(home, "t", *[f"k{i}={v}" for i, v in enumerate(tricky)])
    assert result.returncode == 0, result.stderr
    fields = events(home)[0]["fields"]
    assert [fields[f"k{i}"] for i in range(len(tricky))] == tricky


def test_invalid_utf8_is_valid_json_and_recoverable(home):
    raw = b"caf\xe9 \xff\xfe end"
    result = log_event(home, "t", b"v=" + raw)
    assert result.returncode == 0, result.stderr
    line = (home / ".claude-docker-events.jsonl").read_bytes()
    line.decode("utf-8")  # the log itself is valid UTF-8
    fields = json.loads(line)["fields"]
    assert fields["v"] == raw.decode("utf-8", "replace")
    assert base64.b64decode(fields["v.base64"]) == raw


def test_no_event_at_all_is_a_usage_error(home):
    result = log_event(home)
    assert result.returncode == 2 and b"Usage: claude-docker log-event" in result.stderr


@pytest.mark.parametrize("args,why", [(["a=b"], "usage"), (["e", "novalue"], "KEY=VALUE"),
                                      (["e", "level=loud"], "level must be"), (["e", "duration_ms=soon"], "number")])
def test_bad_input_is_one_line_and_exit_2(home, args, why):
    result = log_event(home, *args)
    assert result.returncode == 2
    assert result.stderr.decode().count("\n") == 1 and why in result.stderr.decode()


def test_fuzzed_values_always_give_valid_json(home):
    rng = random.Random(7)
    for round_ in range(20):
        values = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))).replace(b"\0", b"") for _ in range(5)]
        assert log_event(home, f"fuzz{round_}", *[b"k%d=" % i + v for i, v in enumerate(values)]).returncode == 0
    lines = (home / ".claude-docker-events.jsonl").read_bytes().splitlines()
    assert len(lines) == 20
    for line in lines:
        record = json.loads(line.decode("utf-8"))
        for key, value in record["fields"].items():
            if not key.endswith(".base64"):
                assert isinstance(value, str)


WRITER = """
import sys
from claude_docker.obs import events
for i in range(int(sys.argv[1])):
    events.emit("load", fields={"writer": sys.argv[2], "i": i, "pad": "x" * (i % 300)})
"""


def test_eight_writers_ten_thousand_events_each(home):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, "10000", str(w)],
                              env={**os.environ, "HOME": str(home)}) for w in range(8)]
    for p in procs:
        assert p.wait(timeout=300) == 0
    records = events(home)
    assert len(records) == 80_000
    seen = {(r["fields"]["writer"], r["fields"]["i"]) for r in records}
    assert len(seen) == 80_000


def test_rotation_loses_nothing_across_generations(home, monkeypatch):
    env = {**os.environ, "HOME": str(home), "CLAUDE_DOCKER_LOG_MAX_BYTES": "200000", "CLAUDE_DOCKER_LOG_KEEP": "50"}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, "3000", str(w)], env=env) for w in range(4)]
    for p in procs:
        assert p.wait(timeout=300) == 0
    files = jsonl.generations(home / ".claude-docker-events.jsonl")
    assert len(files) > 10
    raw = [line for f in files for line in f.read_bytes().splitlines(keepends=True)]
    # The bound holds under any scheduling: the limit plus one line per concurrent writer.
    assert all(f.stat().st_size <= 200_000 + 4 * max(map(len, raw)) for f in files)
    lines = [json.loads(line) for line in raw]
    assert len(lines) == 12_000 and len({(r["fields"]["writer"], r["fields"]["i"]) for r in lines}) == 12_000


def test_rotation_keeps_only_the_configured_count(home, monkeypatch):
    monkeypatch.setenv("CLAUDE_DOCKER_LOG_MAX_BYTES", "5000")
    monkeypatch.setenv("CLAUDE_DOCKER_LOG_KEEP", "3")
    from claude_docker.obs import events as ev

    for i in range(500):
        ev.emit("r", fields={"i": i})
    files = jsonl.generations(home / ".claude-docker-events.jsonl")
    assert [f.name for f in files] == [".claude-docker-events.jsonl.3", ".claude-docker-events.jsonl.2",
                                       ".claude-docker-events.jsonl.1", ".claude-docker-events.jsonl"]


def test_a_time_window_is_read_from_the_end(home, tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as f:
        for minute in range(24 * 60):
            f.write(json.dumps({"time": f"2026-11-20T{minute // 60:02d}:{minute % 60:02d}:00.000Z", "n": minute,
                                "pad": "x" * 500}).encode() + b"\n")
    window = jsonl.tail_since(path, "2026-11-20T23:00:00.000Z")
    assert [r["n"] for r in window] == list(range(23 * 60, 24 * 60))


def test_cursor_reads_each_line_once_across_rotation(home, tmp_path):
    path = tmp_path / "log.jsonl"
    for i in range(5):
        jsonl.append(path, b'{"i":%d}\n' % i, max_bytes=10**6, keep=5)
    first = jsonl.read_new(path, jsonl.Cursor())
    assert [json.loads(raw)["i"] for raw, _ in first] == [0, 1, 2, 3, 4]
    cursor = first[-1][1]
    jsonl.append(path, b'{"i":5}\n', max_bytes=10**6, keep=5)
    jsonl.rotate(path, max_bytes=1, keep=3)
    jsonl.append(path, b'{"i":6}\n', max_bytes=10**6, keep=5)
    with open(path, "ab") as f:
        f.write(b'{"i":7, "torn')  # a writer killed mid-line: never read
    rest = jsonl.read_new(path, cursor)
    assert [json.loads(raw)["i"] for raw, _ in rest] == [5, 6]
    assert jsonl.read_new(path, rest[-1][1]) == []


def test_a_reader_lagging_past_the_kept_files_reads_all_that_is_left(tmp_path):
    path = tmp_path / "log.jsonl"
    jsonl.append(path, b'{"i":0}\n', 4096, 2)
    cursor = jsonl.read_new(path, jsonl.Cursor())[-1][1]
    for i in range(1, 400):  # many rotations: the cursor's file is long gone, its inode likely reused
        jsonl.append(path, b'{"i":%d,"pad":"%s"}\n' % (i, b"x" * 60), 4096, 2)
    on_disk = [json.loads(raw)["i"] for f in jsonl.generations(path) for raw in f.read_bytes().splitlines()]
    assert [json.loads(raw)["i"] for raw, _ in jsonl.read_new(path, cursor)] == on_disk


CONSUMER_WRITER = """
import sys
from claude_docker.obs import jsonl
from pathlib import Path
for i in range(3000):
    line = b'{"w":%s,"i":%d,"pad":"%s"}\\n' % (sys.argv[2].encode(), i, b"y" * 40)
    jsonl.append(Path(sys.argv[1]), line, 65536, 1000)
"""


def test_a_consumer_racing_rotation_gets_every_line_once(home, tmp_path):
    path = tmp_path / "log.jsonl"
    writers = [subprocess.Popen([sys.executable, "-c", CONSUMER_WRITER, str(path), str(w)],
                                env={**os.environ, "HOME": str(home)}) for w in range(4)]
    seen, cursor = [], jsonl.Cursor()
    while any(w.poll() is None for w in writers):
        new = jsonl.read_new(path, cursor)
        if new:
            seen += [json.loads(raw) for raw, _ in new]
            cursor = new[-1][1]
    seen += [json.loads(raw) for raw, _ in jsonl.read_new(path, cursor)]
    assert all(w.returncode == 0 for w in writers)
    keys = [(r["w"], r["i"]) for r in seen]
    assert len(keys) == len(set(keys)) == 12_000
    assert len(jsonl.generations(path)) > 5  # it did rotate under the reader


def test_tail_since_reads_only_the_end(tmp_path, monkeypatch):
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as f:
        for minute in range(24 * 60):
            f.write(json.dumps({"time": f"2026-11-20T{minute // 60:02d}:{minute % 60:02d}:00.000Z",
                                "pad": "x" * 500}).encode() + b"\n")
    read = [0]
    real_open = open

    class Counting:
        def __init__(self, fh):
            self.fh = fh

        def read(self, n=-1):
            data = self.fh.read(n)
            read[0] += len(data)
            return data

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(jsonl, "open", lambda *a, **k: Counting(real_open(*a, **k)), raising=False)
    window = jsonl.tail_since(path, "2026-11-20T23:00:00.000Z")
    assert len(window) == 60
    assert read[0] < path.stat().st_size / 10  # an hour of a day: it never read the rest


def test_deleting_the_current_log_never_rereads_the_rotated_ones(tmp_path):
    path = tmp_path / "log.jsonl"
    for i in range(200):
        jsonl.append(path, b'{"i":%d,"pad":"%s"}\n' % (i, b"z" * 60), 4096, 10)
    cursor = jsonl.read_new(path, jsonl.Cursor())[-1][1]
    cursor = jsonl.Cursor.from_json(json.loads(json.dumps(cursor.to_json())))  # as saved and loaded
    path.unlink()  # freeing space by hand
    jsonl.append(path, b'{"i":200}\n', 4096, 10)
    assert [json.loads(raw)["i"] for raw, _ in jsonl.read_new(path, cursor)] == [200]
    other = tmp_path / "timed.jsonl"
    other.write_bytes(b'{"time":"2026-01-01T00:00:00.000Z","n":1}\n[1]\n"not a record"\n'
                      b'{"time":"2026-01-02T00:00:00.000Z","n":2}\n')
    assert [r["n"] for r in jsonl.tail_since(other, "2026-01-01T00:00:00.000Z")] == [1, 2]
