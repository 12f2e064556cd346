"""The tool's own state, damaged: session manifests, stray session dirs, a metrics state, exporter cursors,
and a session dir whose removal was SIGKILLed. Each is set aside (or finished) with one line, the commands
go on, and `cleanup` never stops at one bad session (docs/RECOVERY.md, docs/MONITORING.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from claude_docker.launcher.staging import Staging, sync_in, sync_state
from claude_docker.liveness import here
from claude_docker.paths import ClaudeHome, state_dir
from claude_docker.sessiondir import REMOVING, SessionDir, all_sessions, sessions_root
from shell import helper, plugin_env, run_claude

pytestmark = pytest.mark.docker


@pytest.fixture
def env(home, fake_image):
    (home / ".claude").mkdir()
    (home / ".claude.json").write_text(json.dumps({"numStartups": 1}, indent=2))
    (home / "work").mkdir()
    return plugin_env(home, fake_image)


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def interrupted_session(home: Path, sid: str, numstartups: int) -> SessionDir:
    """A session killed after its container ran: it rewrote .claude.json, its wrapper is gone."""
    claude = ClaudeHome.from_env()
    session = SessionDir.create(sid, {**here().fields(), "wrapper_pid": dead_pid(), "wrapper_start": ""})
    staging = Staging(claude, home, session)
    synced = sync_in(staging, home / "work")
    session.write_manifest({**session.read_manifest(), "state": "running", "project": str(home / "work"),
                            **sync_state(staging, synced)})
    (session.path / staging.claude_json_key).write_text(json.dumps({"numStartups": numstartups}))
    return session


def damaged_items() -> list[str]:
    folder = state_dir() / "damaged"
    return sorted(os.listdir(folder)) if folder.exists() else []


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "damaged" in line]


@pytest.mark.parametrize("manifest", [b"[]", b'{"session": "x", "state": "running", "wrapper_pid": "1"}',
                                      b"{not json", b"[" * 100_000, None],
                         ids=["a-list", "wrong-types", "not-json", "nested-past-any-parser", "missing-keys"])
def test_a_damaged_session_manifest_is_set_aside_and_every_command_goes_on(env, home, manifest):
    good = interrupted_session(home, "ffffffffffff", 5)
    bad = interrupted_session(home, "000000000000", 9)
    if manifest is None:  # a "running" session's manifest without what sync-out needs
        record = bad.read_manifest()
        del record["tracked"]
        manifest = json.dumps(record).encode()
    (bad.path / "session.json").write_bytes(manifest)

    result = helper(env, "health")
    assert result.returncode == 0, result.stderr
    assert warnings(result.stderr) == [warnings(result.stderr)[0]]  # one line, naming the dir
    assert str(bad.path) in result.stderr and "Traceback" not in result.stderr
    assert not bad.path.exists() and damaged_items()[0].endswith("-000000000000")
    assert "damaged state" in result.stdout  # and health reports it
    for command in ("doctor", "cleanup"):
        result = helper(env, command)
        assert result.returncode in (0, 1) and "internal error" not in result.stderr, result.stderr
    assert json.loads((home / ".claude.json").read_text())["numStartups"] == 5  # the good one was synced back
    assert not good.path.exists()
    result = run_claude(home / "work", env, "--version")
    assert result.returncode == 0, result.stderr


def test_one_session_that_fails_never_stops_cleanup_from_finishing_the_rest(env, home):
    """A session whose sync-out raises something unexpected (here: a manifest naming a file outside its config
    dir) is marked with its reason; the one after it is still synced back, and cleanup exits 122."""
    bad = interrupted_session(home, "000000000000", 9)
    record = bad.read_manifest()
    key = f"{record['config_key']}/notes.md"
    (bad.path / key).write_text("notes")
    record["tracked"].append({"key": key, "host": "/elsewhere/notes.md", "kind": "file", "base_size": None,
                              "staged_stat": None})
    bad.write_manifest(record)
    interrupted_session(home, "ffffffffffff", 5)

    result = helper(env, "cleanup")
    assert result.returncode == 122, result.stderr
    assert "could not sync back session 000000000000: internal error (ValueError" in result.stdout
    assert "sync back the config of interrupted session ffffffffffff" in result.stdout
    assert json.loads((home / ".claude.json").read_text())["numStartups"] == 5
    marked = bad.read_manifest()
    assert marked["state"] == "sync-failed" and marked["error"].startswith("internal error (ValueError")
    assert (state_dir() / "crash.log").read_text().count("Traceback") == 1
    again = helper(env, "cleanup")  # kept for another try, and still alone in failing
    assert again.returncode == 122 and "ffffffffffff" not in again.stdout


def test_a_stray_creating_dir_is_set_aside(env, home):
    stray = sessions_root() / ".creating-not-ours"
    stray.mkdir(parents=True)
    result = helper(env, "cleanup")
    assert result.returncode == 0, result.stderr
    assert warnings(result.stderr) == [warnings(result.stderr)[0]] and str(stray) in result.stderr
    assert not stray.exists() and damaged_items()[0].endswith(".creating-not-ours")


def test_a_sigkill_mid_removal_leaves_only_what_cleanup_finishes(env, home):
    """A real SIGKILL of a process removing a big session dir (credential copies in it): nothing is left
    under the session's name, and cleanup deletes the rest."""
    session = SessionDir.create("0123456789ab", {**here().fields(), "wrapper_pid": os.getpid(), "wrapper_start": ""})
    (session.path / "home" / ".claude").mkdir(parents=True)
    (session.path / "home" / ".claude" / ".credentials.json").write_text('{"token": "secret"}')
    for d in range(200):
        folder = session.path / "big" / f"{d:03}"
        folder.mkdir(parents=True)
        for f in range(100):
            (folder / str(f)).write_bytes(b"x")
    doomed = sessions_root() / (REMOVING + session.session_id)
    code = ("import sys; from pathlib import Path; from claude_docker.sessiondir import SessionDir; "
            "SessionDir(Path(sys.argv[1])).remove()")
    remover = subprocess.Popen([sys.executable, "-c", code, str(session.path)])
    try:
        while not doomed.exists() and remover.poll() is None:
            pass
        os.kill(remover.pid, signal.SIGKILL)
    finally:
        remover.wait()
    assert remover.returncode == -signal.SIGKILL, "the removal finished before the kill: make the tree bigger"
    assert doomed.exists() and not session.path.exists() and all_sessions() == []
    result = helper(env, "cleanup")
    assert result.returncode == 0, result.stderr
    assert "finish removing the dir of session 0123456789ab" in result.stdout
    assert not doomed.exists()


def test_a_creation_killed_midway_is_removed_by_cleanup(env, home):
    """SIGKILL between the half-made dir and its rename (the creator kills itself there, for real)."""
    code = ("import os, signal; from claude_docker import sessiondir; from claude_docker.liveness import here, "
            "process_start; os.rename = lambda *a: os.kill(os.getpid(), signal.SIGKILL); "
            "sessiondir.SessionDir.create('a0a0a0a0a0a0', {**here().fields(), 'wrapper_pid': os.getpid(), "
            "'wrapper_start': process_start(os.getpid())})")
    creator = subprocess.run([sys.executable, "-c", code], env=env, check=False)
    assert creator.returncode == -signal.SIGKILL
    [left] = [p.name for p in sessions_root().iterdir()]
    assert left.startswith(".creating-") and left.endswith("-a0a0a0a0a0a0")
    result = helper(env, "cleanup")
    assert result.returncode == 0, result.stderr
    assert f"remove the dir of session {left}, killed before it started" in result.stdout
    assert not list(sessions_root().iterdir())


WRONG_TYPES = '{"cursor": {}, "series": {"claude_docker_orphans_removed_total": {"{}": "lots"}}}'


@pytest.mark.parametrize("damaged", [WRONG_TYPES, "[" * 100_000], ids=["wrong-types", "nested-past-any-parser"])
def test_a_damaged_metrics_state_is_set_aside_and_folded_again(env, home, damaged):
    from claude_docker.obs.catalog import observe

    observe("claude_docker_orphans_removed_total", 1)
    state = state_dir() / "metrics" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(damaged)
    assert "damaged, rebuilt at the next flush" in helper(env, "doctor").stdout
    result = helper(env, "flush")
    assert result.returncode == 0, result.stderr
    assert len(warnings(result.stderr)) == 1 and str(state) in result.stderr
    assert json.loads(state.read_text())["series"]["claude_docker_orphans_removed_total"] == {"{}": 1.0}
    again = helper(env, "flush")  # rebuilt for good: no line, no error
    assert again.returncode == 0 and again.stderr == ""


class Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self):
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args):
        pass


def test_a_damaged_exporter_cursor_resumes_at_the_logs_end_and_sends_nothing_twice(env, home):
    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Collector.received = []
    env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}"}
    traces = home / ".claude-docker-traces" / "traces.jsonl"
    traces.parent.mkdir()
    try:
        traces.write_text('{"resourceSpans": [{"n": 1}]}\n{"resourceSpans": [{"n": 2}]}\n')
        assert helper(env, "flush").returncode == 0
        assert len(Collector.received) == 1  # both, once
        cursor = state_dir() / "cursors" / "otlp-traces.json"
        cursor.write_text('{"inode": "x"}')
        with traces.open("a") as f:
            f.write('{"resourceSpans": [{"n": 3}]}\n')
        result = helper(env, "flush")
        assert result.returncode == 0, result.stderr
        assert len(warnings(result.stderr)) == 1 and "resumes at the end of" in result.stderr
        assert len(Collector.received) == 1  # nothing re-sent (n=3 came after the last save: not sent)
        with traces.open("a") as f:
            f.write('{"resourceSpans": [{"n": 4}]}\n')
        assert helper(env, "flush").returncode == 0
        assert [s["n"] for s in json.loads(Collector.received[-1])["resourceSpans"]] == [4]
    finally:
        server.shutdown()
        server.server_close()


def test_a_damaged_cursor_is_reported_only_while_flush_would_repair_it(env, home):
    """Its exporter not configured, flush leaves a damaged cursor be (the exporter repairs it when configured
    again): doctor must not name a fix that does nothing, forever."""
    cursor = state_dir() / "cursors" / "datadog-events.json"
    cursor.parent.mkdir(parents=True)
    cursor.write_text('{"x":')
    env = {k: v for k, v in env.items() if k not in ("DD_API_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT")}
    check = {c["name"]: c for c in json.loads(helper(env, "doctor", "--json").stdout)["checks"]}["damaged state"]
    assert check["status"] == "ok", check
    check = {c["name"]: c for c in json.loads(helper({**env, "DD_API_KEY": "k"}, "doctor", "--json").stdout)
             ["checks"]}["damaged state"]
    assert check["status"] == "warn" and str(cursor) in check["detail"] and check["fix"] == "claude-docker flush"


def test_cleanup_never_prints_a_control_character_a_session_chose(env, home):
    """What cleanup reports (held, quarantined, conflicts) names files and keys the session made: an escape in
    a file name (here an OSC 52 clipboard write) is shown escaped, as `claude` shows it."""
    session = interrupted_session(home, "eeeeeeeeeeee", 3)
    (session.path / session.read_manifest()["config_key"] / "x\x1b]52;c;cHduZWQ=\x07.json").write_bytes(b"{}")
    result = helper(env, "cleanup")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr and "\x07" not in result.stdout
    assert "x\\x1b]52;c;cHduZWQ=\\x07.json" in result.stdout


def test_a_manifest_of_a_session_that_may_still_run_is_never_set_aside(env, home):
    """A manifest this version can't use, but that places its wrapper on another host, or here and alive (a
    version that writes it otherwise): its session may be running, so nothing moves it."""
    from claude_docker.liveness import process_start

    elsewhere = interrupted_session(home, "aaaaaaaaaaaa", 4)
    alive = interrupted_session(home, "bbbbbbbbbbbb", 6)
    for session, changes in ((elsewhere, {"host": "another-host"}),
                             (alive, {"wrapper_pid": os.getpid(), "wrapper_start": process_start(os.getpid())})):
        record = {**session.read_manifest(), **changes, "tracked": "a newer version's form"}
        (session.path / "session.json").write_text(json.dumps(record))
    result = helper(env, "health")
    assert result.returncode == 0 and "damaged" not in result.stderr, result.stderr
    assert elsewhere.path.exists() and alive.path.exists() and damaged_items() == []
