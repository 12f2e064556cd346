"""The helper's command line: help everywhere, usage errors, error policy, import discipline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from claude_docker.app import COMMANDS

HOT_PATH_FORBIDDEN = ("click", "docker", "orjson", "filelock", "subprocess", "dataclasses", "hashlib")


def helper(*args, env=None):
    return subprocess.run([sys.executable, "-I", "-m", "claude_docker", *args], capture_output=True, text=True,
                          env=env, timeout=60)


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS), ["image", "build"]])
def test_every_command_has_help(command):
    result = helper(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: claude-docker")


def test_usage_errors_exit_2_with_usage():
    for args in (["ps", "--bogus"], ["no-such-command"], ["image", "build", "--recipe", "podman"]):
        result = helper(*args)
        assert result.returncode == 2, args
        assert "Usage:" in result.stderr and result.stdout == ""


def test_version():
    from claude_docker import __version__

    assert helper("--version").stdout.strip() == f"claude-docker, version {__version__}"


def test_the_session_hot_path_imports_nothing_heavy():
    code = ("import sys, claude_docker.cli, claude_docker.launcher.run; "
            f"print([m for m in {HOT_PATH_FORBIDDEN!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_bad_environment_is_one_line_and_125(home):
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "CLAUDE_DOCKER_V2_PROBABILITY": "lots"}
    result = helper("run", "--", "--version", env=env)
    assert result.returncode == 125
    assert result.stderr == "claude-docker: CLAUDE_DOCKER_V2_PROBABILITY='lots': expected a number from 0 to 1\n"


def test_missing_docker_cli_is_one_line_and_125(home, tmp_path):
    env = {"HOME": str(home), "PATH": str(tmp_path)}
    result = helper("run", "--", "--version", env=env)
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1 and "docker command is not on PATH" in result.stderr


def test_a_bug_is_one_line_and_the_traceback_is_saved(home, monkeypatch, capsys):
    from claude_docker import cli

    def broken(argv):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_dispatch", broken)
    assert cli.main(["ps"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (RuntimeError: boom)" in err
    assert "Traceback" in (home / ".claude-docker" / "crash.log").read_text()


def test_doctor_json_shape(home):
    result = helper("doctor", "--json", env={"HOME": str(home), "PATH": "/nonexistent", "NO_COLOR": "1"})
    report = json.loads(result.stdout)
    names = [c["name"] for c in report["checks"]]
    assert result.returncode == 1 and report["ok"] is False
    assert names[0] == "docker CLI" and report["checks"][0]["status"] == "fail" and report["checks"][0]["fix"]
    assert {"docker daemon", ".claude.json", "disk space", "install"} <= set(names)


def test_doctor_reports_a_corrupt_config_with_its_fix(home):
    (home / ".claude.json").write_text('{"oops"')
    result = helper("doctor", env={"HOME": str(home), "PATH": "/nonexistent", "NO_COLOR": "1"})
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if ".claude.json" in x and "not valid JSON" in x)
    assert line.startswith("✗")
    assert "fix: restore it from" in result.stdout


def test_human_output_of_ps_health_and_trace(home):
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin:/usr/local/bin", "NO_COLOR": "1"}
    ps = helper("ps", env=env)
    if ps.returncode == 0:  # an engine to ask (other sessions may be live on it)
        first = ps.stdout.splitlines()[0]
        assert first == "no claude-docker sessions" or \
            first.split() == ["SESSION", "STATUS", "SLOT", "IMAGE", "STARTED", "WRAPPER", "PROJECT"]
    else:
        assert ps.returncode == 125 and ps.stderr.count("\n") == 1
    health = helper("health", "--live", env=env)
    assert health.returncode == 0 and health.stdout.splitlines()[-1] == "live"
    assert "\033[" not in health.stdout  # NO_COLOR
    (home / ".claude.json").write_text("[]")
    health = helper("health", env={**env, "CLAUDE_DOCKER_IMAGE": "claude-docker-test/absent:0"})
    assert health.returncode == 1 and health.stdout.splitlines()[-1] == "not ready"
    assert any(line.startswith("✗ .claude.json:") for line in health.stdout.splitlines())
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    trace = helper("trace", "start", "demo", env={**env, "TRACEPARENT": parent})
    assert trace.returncode == 0
    assert trace.stdout.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-") and trace.stdout.endswith("-01\n")


def test_expected_failures_of_helper_commands_are_one_line(home, tmp_path):
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin:/usr/local/bin", "NO_COLOR": "1"}
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cases = [
        (["trace", "start"], {"CLAUDE_DOCKER_TRACES_DIR": str(blocker / "traces")}, 1),
        (["metrics", "collect"], {"CLAUDE_DOCKER_TEXTFILE_DIR": str(blocker / "textfile")}, 1),
        (["datadog", "send"], {"DD_API_KEY": "k", "CLAUDE_DOCKER_DATADOG_RETRIES": "many"}, 125),  # BAD_SETTING
        (["datadog", "send"], {"DD_API_KEY": "k", "CLAUDE_DOCKER_DATADOG_BACKOFF": "-1"}, 125),
        (["metrics", "serve", "--listen", "127.0.0.1:70000"], {}, 2),
    ]
    for args, extra, code in cases:
        result = helper(*args, env={**env, **extra})
        assert result.returncode == code, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "internal error" not in result.stderr, (args, result.stderr)


def test_a_deleted_working_directory_is_one_line_and_125(home, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    code = (f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
            "from claude_docker.cli import main; sys.exit(main(['run', '--', '--version']))")
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin:/usr/local/bin",
           "CLAUDE_DOCKER_IMAGE": "claude-docker-test/fake-claude:1"}
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, env=env, timeout=60)
    if "not reachable" in result.stderr or "not present" in result.stderr:
        pytest.skip("needs the engine and the fake image")
    assert result.returncode == 125 and result.stderr.count("\n") == 1
    assert "the current directory is gone" in result.stderr


def test_the_checks_at_every_claude_start_import_nothing_heavy(home):
    (home / ".claude").mkdir()
    (home / ".claude.json").write_text('{"numStartups": 1}')
    (home / ".claude" / "settings.json").write_text("{}")
    code = ("import sys; from claude_docker.backup.triggers import at_start; "
            "from claude_docker.paths import ClaudeHome; at_start(ClaudeHome.from_env()); "
            f"print([m for m in {HOT_PATH_FORBIDDEN!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "HOME": str(home)})
    assert result.stdout.strip() == "[]"
