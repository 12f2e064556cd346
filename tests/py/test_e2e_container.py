"""The container a session runs in, through the `claude` zsh function, with the stand-in `claude` image:
hardening, identity, mounts, environment, terminal, signals, overlapping sessions, kills and cleanup."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import random
import select
import shlex
import signal
import socket
import struct
import subprocess
import termios
import threading
import time

import pytest

from shell import PLUGIN as PLUGIN_PATH
from shell import helper, plugin_env, run_claude, start_claude, zsh_command

pytestmark = pytest.mark.docker


@pytest.fixture
def project(home):
    p = home / "proj"
    (p / "sub dir").mkdir(parents=True)
    (p / ".git").mkdir()
    (p / "README").write_text("top\n")
    return p


@pytest.fixture
def env(home, fake_image):
    (home / ".claude").mkdir()
    (home / ".claude.json").write_text(json.dumps({"userID": "u1", "projects": {}}, indent=2))
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_rsa").write_text("PRIVATE")
    return plugin_env(home, fake_image)


def sh(project, env, script, **kw):
    return run_claude(project, env, "sh", script, **kw)


def test_hardened_container_runs_as_the_user_in_the_project(project, env, home, no_leftover_containers):
    script = ('id -u; id -g; pwd; cat ../README; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; '
              '[ -e /var/run/docker.sock ] && echo SOCKET; [ -e "$HOME/.ssh" ] && echo SSH; echo "HOME=$HOME"; '
              'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max')
    result = sh(project / "sub dir", env, script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [str(os.getuid()), str(os.getgid()), str(project / "sub dir"), "top"]
    assert "CapEff:\t0000000000000000" in lines and "NoNewPrivs:\t1" in lines
    assert "SOCKET" not in lines and "SSH" not in lines  # no docker socket, nothing of HOME beyond the session's
    assert f"HOME={home}" in lines
    assert lines[-1] == "1024"


def test_relaxing_hardening_is_explicit(project, env, no_leftover_containers):
    env = dict(env, CLAUDE_DOCKER_CAP_ADD="CHOWN", CLAUDE_DOCKER_PIDS_LIMIT="0", CLAUDE_DOCKER_ALLOW_NEW_PRIVILEGES="1")
    result = sh(project, env, 'grep -E "^(CapEff|NoNewPrivs)" /proc/self/status')
    assert "CapEff:\t0000000000000001" in result.stdout and "NoNewPrivs:\t0" in result.stdout


def test_environment_passthrough(project, env, no_leftover_containers):
    env = dict(env, ANTHROPIC_MODEL="m1", CLAUDE_CODE_USE_X="1", LC_ALL="C.UTF-8", SECRET_THING="no",
               MY_TOOL_VAR="yes", CLAUDE_DOCKER_ENV="MY_TOOL_VAR", TERM="xterm-test")
    out = sh(project, env, "env").stdout.splitlines()
    for expected in ("ANTHROPIC_MODEL=m1", "CLAUDE_CODE_USE_X=1", "LC_ALL=C.UTF-8", "MY_TOOL_VAR=yes",
                     "TERM=xterm-test", "DISABLE_AUTOUPDATER=1"):
        assert expected in out
    assert not any(line.startswith("SECRET_THING=") for line in out)


def test_args_reach_claude_untouched_and_exit_status_passes_through(project, env, no_leftover_containers):
    args = ["a b", "", "--", "-p", "$HOME", "*", "it's", "line1\nline2"]
    result = run_claude(project, env, "sh", 'for a in "$@"; do printf "<%s>" "$a"; done; exit 42', "argv0", *args)
    assert result.returncode == 42
    assert result.stdout == "".join(f"<{a}>" for a in args)


def test_stdin_pipe_reaches_claude(project, env, no_leftover_containers):
    result = sh(project, env, "[ -t 0 ] || echo no-tty; cat", stdin="piped text\n")
    assert result.stdout == "no-tty\npiped text\n"


def _controlling_tty() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def test_terminal_gets_a_tty_that_follows_the_window_size(project, env, no_leftover_containers):
    """A TTY when stdin and stdout are terminals; its size is the terminal's, and follows a resize."""
    master, slave = pty.openpty()
    _winsize(slave, 33, 101)
    # The first resize reaches the container just after it starts: give it a moment before reading the size.
    script = "[ -t 0 ] && [ -t 1 ] && echo TTY; sleep 1; stty size; read line; stty size"
    proc = subprocess.Popen(zsh_command(project, ["claude", "sh", script]), env=env, stdin=slave, stdout=slave,
                            stderr=slave, preexec_fn=_controlling_tty)  # noqa: PLW1509 - no threads run here
    os.close(slave)
    out, resized, deadline = b"", False, time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if select.select([master], [], [], 0.2)[0]:
            try:
                out += os.read(master, 4096)
            except OSError:  # EIO: the terminal's other end is closed
                break
        if not resized and b"33 101" in out:
            _winsize(master, 40, 132)  # the kernel tells the terminal's foreground group: SIGWINCH
            time.sleep(1)
            os.write(master, b"go\n")
            resized = True
    proc.wait(timeout=30)
    os.close(master)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "TTY" in text and "33 101" in text and "40 132" in text


def test_sessions_in_one_project_run_side_by_side_and_every_change_survives(project, env, home, no_leftover_containers):
    """Each session reads .claude.json when it starts and rewrites the whole file later, as Claude Code does."""
    gate = project / "go"
    keys = ("promptQueueUseCount", "memoryUsageCount", "btwUseCount")  # counters: they flow back
    procs = [start_claude(project, env, "set-key", key, str(i + 1), str(gate)) for i, key in enumerate(keys)]
    for p in procs:
        assert p.stdout.readline().strip() == "started"
    gate.touch()
    for p in procs:
        p.communicate(timeout=60)
        assert p.returncode == 0
    data = json.loads((home / ".claude.json").read_text())
    assert [data.get(key) for key in keys] == [1, 2, 3]
    assert data["userID"] == "u1" and data["projects"] == {}


def test_sigterm_reaches_claude_and_config_still_syncs(project, env, home, no_leftover_containers):
    script = ('echo \'{"during": "session"}\' > "$HOME/.claude/stats-cache.json"; '
              'trap "echo got-TERM; exit 143" TERM; echo ready; while :; do sleep 0.1; done')
    proc = subprocess.Popen(zsh_command(project, ["claude", "sh", script]), env=env, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(_python_child(proc.pid), signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    assert "got-TERM" in rest
    assert proc.returncode == 143
    assert json.loads((home / ".claude" / "stats-cache.json").read_text()) == {"during": "session"}


def test_ctrl_c_reaches_claude_and_the_wrapper_outlives_it(project, env, no_leftover_containers):
    script = 'trap "echo got-INT; exit 130" INT; echo ready; while :; do sleep 0.1; done'
    # An interactive shell survives Ctrl-C; a trap makes this `zsh -c` do the same.
    argv = zsh_command(project, ["claude", "sh", script])
    argv[-1] = "trap true INT; " + argv[-1]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "ready"
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    rest, _ = proc.communicate(timeout=60)
    assert "got-INT" in rest and proc.returncode == 130


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


def _python_child(zsh_pid: int, timeout: float = 10) -> int:
    """The helper process under the zsh running the `claude` function."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for child in _children(zsh_pid):
            with open(f"/proc/{child}/cmdline", "rb") as f:
                if b"claude_docker" in f.read():
                    return child
        time.sleep(0.02)
    raise AssertionError("no helper process found")


def _wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if os.waitpid(pid, os.WNOHANG)[0] if pid in _children(os.getpid()) else False:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"process {pid} did not exit")


def test_sigkill_storm_leaves_host_config_valid_and_cleanup_recovers(project, env, home, docker_client,
                                                                    no_leftover_containers):
    rng = random.Random(1234)
    for i in range(8):
        script = (f'echo go; sleep {rng.choice([0, 0.2, 1, 3])}; '
                  f'sed "s/\\"userID\\"/\\"round{i}\\": {i}, \\"userID\\"/" '
                  f'"$HOME/.claude.json" > "$HOME/x" && mv "$HOME/x" "$HOME/.claude.json"')
        proc = subprocess.Popen(zsh_command(project, ["claude", "sh", script]),
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        wrapper = _python_child(proc.pid)
        time.sleep(rng.uniform(0, 1.5))
        docker_cli = _children(wrapper)
        try:
            os.kill(wrapper, signal.SIGKILL)
        except ProcessLookupError:
            pass  # this round's session ended before the kill
        proc.wait(timeout=30)
        json.loads((home / ".claude.json").read_text())  # valid, whatever was killed when
        result = helper(env, "cleanup", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        for pid in docker_cli:
            _wait_gone(pid)
        json.loads((home / ".claude.json").read_text())
    assert not list((home / ".claude-docker" / "sessions").iterdir())
    assert helper(env, "ps", "--json").stdout.strip() == "[]"
    assert json.loads((home / ".claude.json").read_text())["userID"] == "u1"


def test_ps_and_cleanup_of_a_session_whose_wrapper_died(project, env, home, no_leftover_containers):
    script = 'echo up; echo \'{"fromKilled": 1}\' > "$HOME/.claude/stats-cache.json"; sleep 600'
    proc = subprocess.Popen(zsh_command(project, ["claude", "sh", script]),
                            env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "up"
    wrapper = _python_child(proc.pid)
    live = json.loads(helper(env, "ps", "--json").stdout)
    assert len(live) == 1 and live[0]["status"] == "running" and not live[0]["orphaned"]
    assert live[0]["wrapper_pid"] == wrapper and live[0]["project"] == str(project)
    docker_cli = _children(wrapper)
    os.kill(wrapper, signal.SIGKILL)
    proc.wait(timeout=30)
    live = json.loads(helper(env, "ps", "--json").stdout)
    assert live[0]["orphaned"] is True
    hint = run_claude(project, env, "--version")
    assert hint.returncode == 0
    assert hint.stderr == ("claude-docker: 1 interrupted session(s) not yet synced back: "
                           "run `claude-docker cleanup`\n")
    doctor = helper(env, "doctor", "--json")
    assert doctor.returncode == 1
    assert any(c["name"] == "orphans" and c["status"] == "fail" for c in json.loads(doctor.stdout)["checks"])
    dry = json.loads(helper(env, "cleanup", "--dry-run", "--json").stdout)
    assert {a["action"] for a in dry["actions"]} == {"remove-container", "sync-back"}
    assert json.loads(helper(env, "ps", "--json").stdout)[0]["orphaned"] is True  # dry run changed nothing
    result = helper(env, "cleanup")
    assert result.returncode == 0 and "remove orphaned container" in result.stdout
    for pid in docker_cli:
        _wait_gone(pid)
    assert json.loads(helper(env, "ps", "--json").stdout) == []
    # The killed session's config change was synced back by cleanup.
    assert json.loads((home / ".claude" / "stats-cache.json").read_text()) == {"fromKilled": 1}
    assert helper(env, "cleanup").stdout.strip() == "nothing to clean up"


def test_failed_sync_back_is_122_keeps_the_session_and_cleanup_retries(project, env, home, no_leftover_containers):
    (home / ".claude" / ".last-cleanup").write_text("host version\n")
    gate = project / "go"
    proc = start_claude(project, env, "sh", f'echo "session version" > "$HOME/.claude/.last-cleanup"; echo ready; '
                                            f'while [ ! -e "{gate}" ]; do sleep 0.05; done')
    assert proc.stdout.readline().strip() == "ready"
    (home / ".claude" / ".last-cleanup").unlink()
    (home / ".claude" / ".last-cleanup").mkdir()  # the host path can't take the file now
    gate.touch()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 122
    assert err.count("\n") == 1 and "run `claude-docker cleanup` to retry" in err
    [session] = list((home / ".claude-docker" / "sessions").iterdir())
    assert json.loads((session / "session.json").read_text())["state"] == "sync-failed"
    assert helper(env, "cleanup").returncode == 122  # still failing: kept for another try
    assert session.exists()
    (home / ".claude" / ".last-cleanup").rmdir()
    result = helper(env, "cleanup")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (home / ".claude" / ".last-cleanup").read_text() == "session version\n"
    assert not session.exists()


def test_a_killed_docker_cli_never_syncs_a_live_session(project, env, home, docker_client, no_leftover_containers):
    """The container is stopped first (SIGTERM reaches Claude Code), then its config is synced."""
    script = ('trap "echo stopped > \\"$HOME/.claude/.last-cleanup\\"; exit 143" TERM; echo ready; '
              'while :; do sleep 0.1; done')
    proc = start_claude(project, env, "sh", script)
    assert proc.stdout.readline().strip() == "ready"
    wrapper = _python_child(proc.pid)
    [docker_cli] = _children(wrapper)
    os.kill(docker_cli, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == 137
    assert (home / ".claude" / ".last-cleanup").read_text() == "stopped\n"  # written as it stopped, then synced
    assert not list((home / ".claude-docker" / "sessions").iterdir())


def test_sigint_sent_to_the_wrapper_alone_reaches_claude(project, env, no_leftover_containers):
    script = 'trap "echo got-INT; exit 130" INT; echo ready; while :; do sleep 0.1; done'
    proc = start_claude(project, env, "sh", script)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(_python_child(proc.pid), signal.SIGINT)  # as `timeout -s INT` or a supervisor would
    out, _ = proc.communicate(timeout=60)
    assert "got-INT" in out and proc.returncode == 130


def test_missing_image_is_one_line_and_125(project, env, no_leftover_containers):
    result = run_claude(project, dict(env, CLAUDE_DOCKER_IMAGE="claude-docker-test/absent:0"), "--version")
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1 and "claude-docker image build" in result.stderr


def test_unreachable_daemon_is_one_line_and_125(project, env, tmp_path):
    result = run_claude(project, dict(env, DOCKER_HOST=f"unix://{tmp_path}/no.sock"), "--version", timeout=10)
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1 and "not reachable" in result.stderr


def test_daemon_that_never_answers_fails_within_two_seconds(project, env, tmp_path):
    path = str(tmp_path / "silent.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except socket.timeout:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        start = time.monotonic()
        result = run_claude(project, dict(env, DOCKER_HOST=f"unix://{path}"), "--version", timeout=30)
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        t.join()
        for conn in accepted:
            conn.close()
        server.close()
    assert result.returncode == 125 and "did not answer within 2s" in result.stderr
    assert elapsed < 10  # it gives up after its 2 s timeout instead of hanging


def test_refuses_to_mount_home_itself(home, env):
    result = run_claude(home, env, "--version")
    assert result.returncode == 125 and "refusing" in result.stderr


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_run_leaves_events_a_trace_and_metrics_with_one_trace_id(project, env, home, no_leftover_containers):
    env = dict(env, CLAUDE_DOCKER_BACKGROUND_FLUSH="0", OTEL_RESOURCE_ATTRIBUTES="team=core",
               CLAUDE_CODE_ENABLE_TELEMETRY="1", OTEL_METRICS_EXPORTER="none")
    result = sh(project, env,
                'echo "$TRACEPARENT"; echo "$OTEL_RESOURCE_ATTRIBUTES"; echo "$CLAUDE_CODE_ENABLE_TELEMETRY"')
    assert result.returncode == 0, result.stderr
    traceparent, resource, telemetry = result.stdout.splitlines()
    _, trace_id, container_span, _ = traceparent.split("-")
    assert telemetry == "1" and resource.startswith("team=core,claude_docker.session=")
    assert f"claude_docker.trace_id={trace_id}" in resource
    run_events = [e for e in _jsonl(home / ".claude-docker-events.jsonl") if e.get("trace_id") == trace_id]
    assert [e["event"] for e in run_events] == ["sync.in", "session.start", "sync.out", "session.end"]
    assert len({e["session"] for e in run_events}) == 1 and run_events[-1]["fields"]["exit_status"] == 0
    assert run_events[1]["duration_ms"] > 0  # the startup latency
    [trace] = _jsonl(home / ".claude-docker-traces" / "traces.jsonl")
    spans = {s["name"]: s for s in trace["resourceSpans"][0]["scopeSpans"][0]["spans"]}
    assert set(spans) == {"claude", "preflight", "sync_in", "container", "sync_out"}
    assert {s["traceId"] for s in spans.values()} == {trace_id}
    assert spans["container"]["spanId"] == container_span
    assert all(s["parentSpanId"] == spans["claude"]["spanId"] for n, s in spans.items() if n != "claude")
    observed = {m["metric"] for m in _jsonl(home / ".claude-docker-metrics.jsonl") if m["trace_id"] == trace_id}
    assert {"claude_docker_sessions_total", "claude_docker_session_startup_seconds",
            "claude_docker_session_duration_seconds", "claude_docker_sync_duration_seconds"} <= observed


def test_the_background_flush_updates_the_textfile_after_a_run(project, env, home, no_leftover_containers):
    assert sh(project, env, "true").returncode == 0
    textfile = home / ".claude-docker" / "textfile" / "claude_docker.prom"
    deadline = time.time() + 30
    while time.time() < deadline and not (textfile.exists()
                                          and "claude_docker_sessions_total{" in textfile.read_text()):
        time.sleep(0.2)
    assert 'claude_docker_sessions_total{outcome="ok",slot="v1"} 1.0' in textfile.read_text()


def test_a_failed_start_is_recorded_as_a_docker_error(project, env, home):
    result = run_claude(project, dict(env, CLAUDE_DOCKER_IMAGE="claude-docker-test/absent:0",
                                      CLAUDE_DOCKER_BACKGROUND_FLUSH="0"), "--version")
    assert result.returncode == 125
    [event] = [e for e in _jsonl(home / ".claude-docker-events.jsonl") if e["event"] == "docker.error"]
    assert event["outcome"] == "tool_failed" and "not present" in event["message"]
    metrics = [m for m in _jsonl(home / ".claude-docker-metrics.jsonl") if m["trace_id"] == event["trace_id"]]
    assert {(m["metric"], json.dumps(m["labels"], sort_keys=True)) for m in metrics} == {
        ("claude_docker_docker_errors_total", '{"operation": "preflight"}'),
        ("claude_docker_sessions_total", '{"outcome": "tool_failed", "slot": "none"}')}


def test_a_project_path_that_is_not_utf8_is_one_clear_refusal(home, env, no_leftover_containers):
    """Docker's JSON API can't carry such a path: one line and 125, no traceback, nothing left behind."""
    project = os.fsdecode(os.fsencode(str(home)) + b"/caf\xe9 project")
    os.mkdir(project)
    before = sorted(os.listdir(home))
    for extra in ({}, {"CLAUDE_DOCKER_OBSERVABILITY": "0"}):
        result = subprocess.run(zsh_command(home, ["true"])[:3] + [
            f"source {PLUGIN_PATH}; cd {shlex.quote(project)} && claude --version"],
            env={**env, **extra, "CLAUDE_DOCKER_BACKGROUND_FLUSH": "0"}, capture_output=True, timeout=60)
        assert result.returncode == 125, result.stderr
        assert result.stderr.count(b"\n") == 1 and b"not valid UTF-8; rename it" in result.stderr
    for line in (home / ".claude-docker-events.jsonl").read_bytes().splitlines():
        json.loads(line.decode("utf-8"))
    assert not list((home / ".claude-docker" / "sessions").iterdir())
    assert not any("\ufffd" in name for name in os.listdir(home))  # docker created no garbled twin of it
    assert [n for n in os.listdir(home) if n not in before and not n.startswith(".claude")] == []


def test_an_unwritable_state_dir_is_one_line_and_125(project, env, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state dir should be")
    result = run_claude(project, dict(env, CLAUDE_DOCKER_STATE_DIR=str(blocker / "state")), "--version")
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1 and "cannot create the session's state" in result.stderr
