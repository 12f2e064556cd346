"""Allowlist mode end to end: the real Claude Code binary in its image, the real forwarder sidecar, the proxy
on the host, the local fake API on 127.0.0.1. Sessions have no network of their own (only loopback); the
only targets are 127.0.0.1 and names under `.invalid`, which never resolve."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from functools import partial
from pathlib import Path

import pytest

from claude_docker.sessiondir import MANIFEST
from fakeapi import FakeAnthropic
from polling import wait_for
from shell import helper, plugin_env, run_claude, start_claude

pytestmark = [pytest.mark.docker, pytest.mark.image]


@pytest.fixture
def project(home):
    p = home / "work" / "proj"
    p.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(p)], check=True)
    return p


def allowlist_env(home: Path, image: str, api: FakeAnthropic, **extra: str) -> dict:
    return plugin_env(home, image, CLAUDE_DOCKER_NETWORK="allowlist", ANTHROPIC_BASE_URL=api.url,
                      ANTHROPIC_API_KEY="sk-test-key", **extra)


def egress_events(home: Path) -> list[dict]:
    path = home / ".claude-docker-events.jsonl"
    if not path.exists():
        return []
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in events if e["event"].startswith("egress.")]


def connections(home: Path, outcome: str) -> list[dict]:
    return [e for e in egress_events(home) if e["event"] == "egress.connection" and e.get("outcome") == outcome]


def test_api_allowed_goes_through_the_proxy(home, project, real_image, no_leftover_containers):
    with FakeAnthropic(reply="pong through the proxy") as api:
        port = api.port
        env = allowlist_env(home, real_image, api, CLAUDE_DOCKER_ALLOW_HOSTS=f"127.0.0.1:{api.port}")
        result = run_claude(project, env, "-p", "hello")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "pong through the proxy"
        assert api.last_prompt_text() == "hello"
        # The proxy rewrote the absolute-form request for the origin: no proxy headers reach it.
        request = api.messages_requests()[-1]
        assert not any(h.lower().startswith("proxy-") for h in request["headers"])
    allowed = connections(home, "allowed")
    assert allowed, egress_events(home)
    assert {(e["fields"]["host"], e["fields"]["port"]) for e in allowed} == {("host.docker.internal", port)}
    assert all(e["fields"]["bytes_in"] > 0 and e["fields"]["bytes_out"] > 0 for e in allowed)
    # Every decision is in the session's own trace.
    end = [json.loads(line) for line in (home / ".claude-docker-events.jsonl").read_text().splitlines()
           if '"session.end"' in line][-1]
    assert {e["trace_id"] for e in allowed} == {end["trace_id"]}
    assert "denied" not in result.stderr


def test_api_not_allowed_is_denied_and_named_at_the_end(home, project, real_image, no_leftover_containers):
    with FakeAnthropic(reply="never") as api:
        env = allowlist_env(home, real_image, api, CLAUDE_CODE_MAX_RETRIES="0")
        result = run_claude(project, env, "-p", "hello")
        assert result.returncode != 0
        assert api.messages_requests() == []  # nothing got past the proxy
        target = f"host.docker.internal:{api.port}"
    denied = connections(home, "denied")
    assert denied and {f"{e['fields']['host']}:{e['fields']['port']}" for e in denied} == {target}
    lines = [line for line in result.stderr.splitlines() if "was denied" in line]
    assert lines == [next(line for line in lines if target in line)]
    assert f"claude-docker egress allow {target}" in lines[0]
    log = helper(env, "egress", "log", "--denied")
    assert log.returncode == 0 and target in log.stdout


def test_inside_the_session_only_the_proxy_leads_out(home, project, real_image, no_leftover_containers):
    commands = (
        # No interface but loopback, no route at all.
        "ls /sys/class/net; tail -n +2 /proc/net/route | wc -l",
        # The host's loopback is not the session's: a raw connection ignoring the proxy finds nothing.
        "curl -sS --max-time 5 --noproxy '*' -o /dev/null http://127.0.0.1:{port}/; echo direct=$?",
        # Through the proxy: a host not on the list is refused there, plain and CONNECT alike.
        "curl -sS --max-time 10 -o /dev/null -w '%{{http_code}}' http://denied.invalid/; echo ' plain'",
        "curl -sS --max-time 10 -o /dev/null https://denied.invalid/ 2>&1; echo connect=$?",
        # A listed name that does not resolve fails that connection only.
        "curl -sS --max-time 10 -o /dev/null -w '%{{http_code}}' http://unresolved.invalid/; echo ' listed'",
    )
    with FakeAnthropic(reply="done") as api:
        api.commands = tuple(c.format(port=api.port) for c in commands)
        env = allowlist_env(home, real_image, api,
                            CLAUDE_DOCKER_ALLOW_HOSTS=f"127.0.0.1:{api.port}, unresolved.invalid")
        result = run_claude(project, env, "-p", "probe the network", "--allowedTools", "Bash")
        assert result.returncode == 0, result.stderr
        links, direct, plain, connect, listed = api.tool_results()
    assert links.split() == ["lo", "0"]
    assert "direct=7" in direct  # connection refused: nothing listens on the session's own loopback
    assert plain.strip() == "403 plain"
    assert "403" in connect and "connect=56" in connect
    assert listed.strip() == "502 listed"
    denied = {e["fields"]["host"] for e in connections(home, "denied")}
    assert denied == {"denied.invalid"}
    failed = connections(home, "failed")
    assert [e["fields"]["host"] for e in failed] == ["unresolved.invalid"]
    assert "denied.invalid:80" in result.stderr and "denied.invalid:443" in result.stderr


def _end(proc: subprocess.Popen) -> None:
    """The session this test started, ended if a failed assertion left it running (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_live_edit_reaches_a_running_session(home, project, real_image, no_leftover_containers):
    # The session asks until the answer changes: 403 while late.invalid is not listed, then 502 (listed,
    # but it never resolves) once the test allowed it from the host.
    loop = ("for i in $(seq 300); do c=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' http://late.invalid/);"
            " [ \"$c\" = 502 ] && break; sleep 0.1; done; echo late=$c")
    with FakeAnthropic(reply="done", commands=(loop,)) as api:
        env = allowlist_env(home, real_image, api, CLAUDE_DOCKER_ALLOW_HOSTS=f"127.0.0.1:{api.port}")
        proc = start_claude(project, env, "-p", "wait for it", "--allowedTools", "Bash", start_new_session=True)
        try:
            wait_for(lambda: any(e["fields"]["host"] == "late.invalid" for e in connections(home, "denied")),
                      60, "the first denial")
            allowed = helper(env, "egress", "allow", "late.invalid")
            assert allowed.returncode == 0, allowed.stderr
            _, err = proc.communicate(timeout=120)
        finally:
            _end(proc)
        assert proc.returncode == 0, err
        assert [r.strip() for r in api.tool_results()] == ["late=502"]
    assert [e["fields"]["host"] for e in connections(home, "failed")][-1] == "late.invalid"


def _proxy_pid(wrapper: int) -> int:
    """The egress proxy this test's session started: a child of its wrapper (found by lineage, by pid)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == wrapper and b"egress" in cmdline and b"proxy" in cmdline:
            return int(entry.name)
    return 0


def _exited(pid: int) -> bool:
    """Gone, or a zombie waiting for a parent that is itself gone (init reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def _wrapper_pid(home: Path) -> int:
    for manifest in (home / ".claude-docker" / "sessions").glob(f"*/{MANIFEST}"):
        return json.loads(manifest.read_text())["wrapper_pid"]
    return 0


def test_the_proxy_killed_mid_session_leaves_the_network_closed(home, project, real_image,
                                                                 no_leftover_containers):
    wait = ("touch ready; while [ ! -e go ]; do sleep 0.1; done; "
            "curl -s --max-time 5 -o /dev/null -w '%{{http_code}}' http://host.docker.internal:{port}/ > after.txt; "
            "echo \" $?\" >> after.txt")
    with FakeAnthropic(reply="done") as api:
        api.commands = (wait.format(port=api.port),)
        env = allowlist_env(home, real_image, api, CLAUDE_DOCKER_ALLOW_HOSTS=f"127.0.0.1:{api.port}",
                            CLAUDE_CODE_MAX_RETRIES="0")
        proc = start_claude(project, env, "-p", "hold on", "--allowedTools", "Bash", start_new_session=True)
        try:
            wait_for((project / "ready").exists, 60, "the session's command")
            wrapper = wait_for(partial(_wrapper_pid, home), 10, "the session's manifest")
            os.kill(wait_for(partial(_proxy_pid, wrapper), 10, "the proxy"), signal.SIGKILL)
            (project / "go").touch()
            wait_for(lambda: (project / "after.txt").exists() and (project / "after.txt").read_text().count(" "),
                      30, "the command's answer")
            _, err = proc.communicate(timeout=120)
        finally:
            _end(proc)
    code, status = (project / "after.txt").read_text().split()
    assert code == "000" and status != "0"  # no answer at all: the way out is gone, not opened
    assert "the egress proxy stopped (killed by signal 9)" in err
    assert "stopped mid-session" in err
    assert [e for e in egress_events(home) if e["event"] == "egress.proxy_died"]


def test_settings_that_would_open_the_network_are_refused(home, project, real_image):
    with FakeAnthropic() as api:
        for extra, needle in ((dict(CLAUDE_DOCKER_CAP_ADD="NET_ADMIN"), "CLAUDE_DOCKER_CAP_ADD=NET_ADMIN"),
                              (dict(CLAUDE_DOCKER_RUN_ARGS="--network=host"), "--network"),
                              (dict(CLAUDE_DOCKER_DOCKER_SOCKET="1"), "CLAUDE_DOCKER_DOCKER_SOCKET=1"),
                              (dict(CLAUDE_DOCKER_ALLOW_HOSTS="good.example, bad..name"), "bad..name")):
            result = run_claude(project, allowlist_env(home, real_image, api, **extra), "-p", "hi")
            assert result.returncode == 125, result.stderr
            assert len(result.stderr.splitlines()) <= 2 and needle in result.stderr, result.stderr
            assert "Traceback" not in result.stderr
        assert api.messages_requests() == []


def test_a_killed_wrapper_takes_its_proxy_along_and_cleanup_removes_the_sidecar(home, project, fake_image,
                                                                                 docker_client, no_leftover_containers):
    (home / ".claude").mkdir()
    (home / ".claude.json").write_text(json.dumps({"userID": "u1", "projects": {}}))
    env = plugin_env(home, fake_image, CLAUDE_DOCKER_NETWORK="allowlist")
    proc = start_claude(project, env, "sh", 'echo up; echo \'{"x": 1}\' > "$HOME/.claude/stats-cache.json"; sleep 600',
                        start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "up"
        wrapper = wait_for(partial(_wrapper_pid, home), 10, "the session's manifest")
        proxy = wait_for(partial(_proxy_pid, wrapper), 10, "the proxy")
        os.kill(wrapper, signal.SIGKILL)
        # The proxy notices its wrapper is gone (it checks each second) and exits: nothing is left listening.
        wait_for(partial(_exited, proxy), 10, "the proxy to exit")
        live = json.loads(helper(env, "ps", "--json").stdout)
        assert [s["role"] for s in live] == ["session"] and live[0]["orphaned"] and live[0]["network"] == "allowlist"
        result = helper(env, "cleanup")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "remove orphaned egress sidecar" in result.stdout
    finally:
        _end(proc)
    assert json.loads((home / ".claude" / "stats-cache.json").read_text()) == {"x": 1}  # synced back
    assert not list((home / ".claude-docker" / "sessions").iterdir())
    assert helper(env, "ps", "--json").stdout.strip() == "[]"
