"""Allowlist mode's part of one `claude` run, without Docker: what it refuses, the container's network and
environment, the docker CLI's, and the end summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claude_docker.container import SessionSpec, run_argv
from claude_docker.errors import ToolError
from claude_docker.launcher import egress
from claude_docker.options import RunOptions


def opts(**env: str) -> RunOptions:
    return RunOptions.from_env({"CLAUDE_DOCKER_NETWORK": "allowlist", **env})


def test_allowlist_is_the_default_mode():
    assert RunOptions.from_env({}).network == "allowlist"


@pytest.mark.parametrize("env, named", [
    ({"CLAUDE_DOCKER_CAP_ADD": "NET_ADMIN"}, "CLAUDE_DOCKER_CAP_ADD=NET_ADMIN"),
    ({"CLAUDE_DOCKER_CAP_ADD": "chown cap_net_raw"}, "CLAUDE_DOCKER_CAP_ADD=NET_RAW"),
    ({"CLAUDE_DOCKER_CAP_ADD": "ALL"}, "CLAUDE_DOCKER_CAP_ADD=ALL"),
    ({"CLAUDE_DOCKER_DOCKER_SOCKET": "1"}, "CLAUDE_DOCKER_DOCKER_SOCKET=1"),
    ({"CLAUDE_DOCKER_RUN_ARGS": "--network=host"}, "--network"),
    ({"CLAUDE_DOCKER_RUN_ARGS": "--privileged"}, "--privileged"),
    ({"CLAUDE_DOCKER_RUN_ARGS": "-p 8080:80"}, "-p"),
    ({"CLAUDE_DOCKER_RUN_ARGS": "--add-host x:10.0.0.1"}, "--add-host"),
])
def test_settings_that_would_reopen_the_network_are_refused(home, env, named):
    with pytest.raises(ToolError) as caught:
        egress.check(opts(**env))
    assert named in caught.value.message and caught.value.code == 125
    assert "\n" not in caught.value.message


def test_harmless_settings_pass(home, monkeypatch):
    monkeypatch.delenv("CLAUDE_DOCKER_ALLOW_HOSTS", raising=False)
    egress.check(opts(CLAUDE_DOCKER_CAP_ADD="SYS_PTRACE", CLAUDE_DOCKER_RUN_ARGS="--shm-size 1g"))


def test_a_bad_allowlist_entry_stops_the_start(home, monkeypatch):
    monkeypatch.setenv("CLAUDE_DOCKER_ALLOW_HOSTS", "ok.example, not..valid")
    with pytest.raises(ToolError) as caught:
        egress.check(opts())
    assert "not..valid" in caught.value.message and caught.value.code == 125


@pytest.mark.parametrize("url, inside", [
    ("http://127.0.0.1:8080", "http://host.docker.internal:8080"),
    ("http://localhost:4000/v1/", "http://host.docker.internal:4000/v1/"),
    ("https://user:pw@127.0.0.1/x?y=1", "https://user:pw@host.docker.internal/x?y=1"),
    ("http://127.0.0.2:8080", None),  # the proxy reaches 127.0.0.1 only: no other loopback address
    ("http://[::1]:9/", "http://host.docker.internal:9/"),
    ("https://api.anthropic.com", None),
    ("http://127.example.com:80", None),
    ("http://[bad", None),
    ("", None),
])
def test_a_loopback_base_url_becomes_the_hosts_alias(url, inside):
    assert egress.rewrite_loopback_url(url) == inside


def spec(**over):
    base = dict(session_id="abcdef123456", name="claude-docker-p-abcdef12", image="img:1", slot="v1",
                project=Path("/h/p"), workdir=Path("/h/p"), home=Path("/h"), uid=1000, gid=1000, wrapper_pid=42,
                wrapper_start="777", host="box", started="2026-01-01T00:00:00Z", mounts=(), env={}, tty=False,
                stdin=True, host_userns=False, network="allowlist")
    base.update(over)
    return SessionSpec(**base)


def test_the_session_joins_the_sidecar_and_records_its_mode(tmp_path):
    way_out = egress.Egress(tmp_path, "claude-docker-p-abcdef12")
    argv = run_argv("/usr/bin/docker", spec(join=way_out.network(), env=way_out.env()), opts(), [], {})
    assert argv[argv.index("--network") + 1] == "container:claude-docker-p-abcdef12-egress"
    assert argv.count("--network") == 1
    assert "io.claude-docker.network=allowlist" in argv
    envs = {argv[i + 1] for i, a in enumerate(argv) if a == "--env"}
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        assert f"{name}=http://127.0.0.1:3128" in envs
    assert "NO_PROXY=localhost,127.0.0.1,::1" in envs and "no_proxy=localhost,127.0.0.1,::1" in envs


def test_allowlist_mode_never_runs_without_its_sidecar():
    with pytest.raises(ValueError):
        run_argv("/usr/bin/docker", spec(), opts(), [], {})


def test_the_base_url_is_rewritten_in_the_docker_clis_environment_only(tmp_path):
    way_out = egress.Egress(tmp_path, "c")
    environ = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:7777", "PATH": "/bin"}
    assert way_out.docker_env(environ) == {"ANTHROPIC_BASE_URL": "http://host.docker.internal:7777", "PATH": "/bin"}
    assert environ["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:7777"
    argv = run_argv("/usr/bin/docker", spec(join="c-egress"), opts(), [], environ)
    assert "ANTHROPIC_BASE_URL" in argv and not any("7777" in a for a in argv)  # by name: ps shows no value


def test_the_end_summary_names_each_denied_host_with_its_command(tmp_path):
    way_out = egress.Egress(tmp_path, "c")
    way_out.summary.parent.mkdir(parents=True)
    counts = {f"host{i}.example:443": i for i in range(1, 8)}
    way_out.summary.write_text(json.dumps(counts))
    lines = way_out.summary_lines("abcdef123456")
    assert lines[0] == ("egress to host7.example:443 was denied (7 times): allow it with "
                        "`claude-docker egress allow host7.example:443`")
    assert len(lines) == egress.SHOWN_DENIED + 1
    assert lines[-1] == "2 more hosts were denied: `claude-docker egress log --denied --session abcdef123456`"


@pytest.mark.parametrize("content", ["", "not json", "[1, 2]", '{"a:1": "many"}'])
def test_a_missing_or_odd_summary_says_nothing(tmp_path, content):
    way_out = egress.Egress(tmp_path, "c")
    if content:
        way_out.summary.parent.mkdir(parents=True)
        way_out.summary.write_text(content)
    assert way_out.summary_lines("s") == []


def test_a_proxy_that_dies_is_told_and_reaped(tmp_path, capfd):
    way_out = egress.Egress(tmp_path, "c")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    way_out.proxy_pid = child.pid
    way_out.watch()
    try:
        os.kill(child.pid, signal.SIGKILL)
        for _ in range(200):
            if way_out.proxy_status is not None:
                break
            time.sleep(0.01)
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    assert way_out.proxy_pid == 0 and way_out.proxy_status is not None
    assert "the egress proxy stopped (killed by signal 9)" in capfd.readouterr().err
    assert way_out.summary_lines("s")[0].startswith("the egress proxy stopped mid-session (killed by signal 9)")
    child.returncode = -9  # reaped by the handler, not by Popen


@pytest.mark.parametrize("args", [
    "--net host", "--publish-all", "--pid=host", "--userns host", "--device /dev/net/tun", "--link other",
    "--privileged=true", "-v /var/run/docker.sock:/var/run/docker.sock", "--volume=/run/user/1000:/x",
    "--mount type=bind,src=/var/run/docker.sock,dst=/d.sock", "--mount=type=bind,source=/run,target=/r",
])
def test_run_args_that_reopen_the_network_are_refused(home, args):
    with pytest.raises(ToolError) as caught:
        egress.check(opts(CLAUDE_DOCKER_RUN_ARGS=args))
    assert "CLAUDE_DOCKER_RUN_ARGS has" in caught.value.message and caught.value.code == 125


def test_a_socket_mounted_from_anywhere_is_refused(home, tmp_path):
    import socket

    path = tmp_path / "agent"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(ToolError):
            egress.check(opts(CLAUDE_DOCKER_RUN_ARGS=f"-v {path}:/agent"))


@pytest.mark.parametrize("args", ["--privileged=false", "-v cache:/cache", "--shm-size 1g", "-e X=1",
                                  "--mount type=volume,src=data,dst=/data"])
def test_run_args_that_leave_the_network_alone_pass(home, monkeypatch, args):
    monkeypatch.delenv("CLAUDE_DOCKER_ALLOW_HOSTS", raising=False)
    egress.check(opts(CLAUDE_DOCKER_RUN_ARGS=args))


def test_doctor_says_when_the_api_is_not_allowed(home, monkeypatch):
    from claude_docker.checks import check_allowlist

    monkeypatch.delenv("CLAUDE_DOCKER_ALLOW_HOSTS", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    ok = check_allowlist(opts())
    assert ok.status == "ok" and ok.detail.startswith("6 defaults and 0 of yours")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:4000")
    warned = check_allowlist(opts())
    assert warned.status == "warn" and warned.fix == "claude-docker egress allow host.docker.internal:4000"
    monkeypatch.setenv("CLAUDE_DOCKER_ALLOW_HOSTS", "127.0.0.1:4000")
    assert check_allowlist(opts()).status == "ok"
    monkeypatch.setenv("CLAUDE_DOCKER_RUN_ARGS", "--net=host")
    failed = check_allowlist(RunOptions.from_env())
    assert failed.status == "fail" and "--net" in failed.detail


@pytest.mark.parametrize("args", [
    "-v /:/host", "-v /var:/v", "-v/var/run/docker.sock:/x", "-itv /var/run/docker.sock:/x", "-P", "-itp 80:80",
    "--mount Source=/var/run/docker.sock,target=/x,type=bind",
    "--mount 'type=bind,\"source=/var/run/docker.sock\",target=/x'",
    "--mount source=/tmp,src=/var/run/docker.sock,target=/x", "--volumes-from other",
])
def test_run_args_read_as_docker_reads_them(home, args):
    with pytest.raises(ToolError):
        egress.check(opts(CLAUDE_DOCKER_RUN_ARGS=args))


def test_a_relative_socket_mount_is_refused(home, tmp_path, monkeypatch):
    import socket

    monkeypatch.chdir(tmp_path)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind("agent")
        with pytest.raises(ToolError):
            egress.check(opts(CLAUDE_DOCKER_RUN_ARGS="-v ./agent:/agent"))


@pytest.mark.parametrize("args", ["-v /run", "-e -v", "-it --rm", "-w /work -e A=1"])
def test_harmless_short_flags_pass(home, monkeypatch, args):
    monkeypatch.delenv("CLAUDE_DOCKER_ALLOW_HOSTS", raising=False)
    egress.check(opts(CLAUDE_DOCKER_RUN_ARGS=args))
