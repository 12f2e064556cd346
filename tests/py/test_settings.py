"""Every CLAUDE_DOCKER_* setting is validated in one place (envspec.py): a value it doesn't take is refused with
one line naming the variable and what it takes (exit BAD_SETTING), by `claude` before anything starts, by the
commands that read it, and listed by `doctor`. And the one HOME, socket path, default image and Check type."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from claude_docker import exitcodes
from shell import plugin_env, run_claude

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pyhelpers" / "claude_docker"

# The examples, and one of each other kind.
REFUSED = [
    ("CLAUDE_DOCKER_READ_ONLY", "maybe"),  # a hardening switch, silently off before
    ("CLAUDE_DOCKER_PIDS_LIMIT", "-3"),  # silently no limit before
    ("CLAUDE_DOCKER_BACKUP_INTERVAL", "soon"),
    ("CLAUDE_DOCKER_LOG_MAX_BYTES", "big"),
    ("CLAUDE_DOCKER_OBSERVABILITY", "banana"),
    ("CLAUDE_DOCKER_MEMORY", "lots"),
    ("CLAUDE_DOCKER_MEMORY", "1k"),  # below the daemon's minimum
    ("CLAUDE_DOCKER_MEMORY", "9999999999p"),  # past Docker's int64: its usage text before
    ("CLAUDE_DOCKER_PIDS_LIMIT", "99999999999999999999999"),  # likewise
    ("CLAUDE_DOCKER_CAP_ADD", "NET_ADMIN,FLY"),
    ("CLAUDE_DOCKER_NETWORK", "my net"),
    ("CLAUDE_DOCKER_IMAGE", "Not/A Reference"),
    ("CLAUDE_DOCKER_IMAGE", "UPPER/x"),  # no registry (no dot, port): a name, which is lowercase
    ("CLAUDE_DOCKER_STATE_DIR", "relative/state"),
    ("CLAUDE_DOCKER_GITCONFIG", "nope"),
    ("CLAUDE_DOCKER_SYNC_HOST_COMMANDS", "yes-please"),
    ("CLAUDE_DOCKER_DATADOG_RETRIES", "0"),
]


def helper(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-m", "claude_docker", *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.docker
@pytest.mark.parametrize("name,value", REFUSED)
def test_claude_refuses_a_bad_setting_before_anything_starts(home, fake_image, name, value):
    project = home / "project"
    project.mkdir()
    result = run_claude(project, plugin_env(home, fake_image, **{name: value}), "--version")
    assert result.returncode == 125, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"claude-docker: {name}="), result.stderr
    assert "expected" in result.stderr
    sessions = home / ".claude-docker" / "sessions"
    assert not sessions.exists() or not any(sessions.iterdir())


@pytest.mark.docker
@pytest.mark.parametrize("value", ["inf", "nan", "1e400"])
def test_an_infinite_backup_interval_is_refused_before_the_container_starts(home, fake_image,
                                                                           value):
    """It used to crash the wrapper once the container ran (setitimer), leaving Claude Code unsupervised."""
    project = home / "project"
    project.mkdir()
    result = run_claude(project, plugin_env(home, fake_image, CLAUDE_DOCKER_BACKUP_INTERVAL=value), "--version")
    assert result.returncode == 125, result.stderr
    assert result.stderr.count("\n") == 1 and "CLAUDE_DOCKER_BACKUP_INTERVAL" in result.stderr
    assert "0.0.0 (fake Claude Code)" not in result.stdout


def test_a_secret_setting_is_named_but_never_echoed(home):
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "CLAUDE_DOCKER_RUN_ARGS": "-e 'TOKEN=sk-hunter2",
           "CLAUDE_DOCKER_PUSHGATEWAY": "ftp://user:pw-hunter2@host"}
    for args in (["run", "--", "--version"], ["doctor"]):
        result = helper(env, *args)
        assert "CLAUDE_DOCKER_RUN_ARGS" in result.stderr + result.stdout
        assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize("name,value,args", [
    ("CLAUDE_DOCKER_LOG_MAX_BYTES", "big", ["log-event", "demo", "a=b"]),
    ("CLAUDE_DOCKER_LOG_KEEP", "-1", ["log-event", "demo"]),
    ("CLAUDE_DOCKER_OBSERVABILITY", "banana", ["log-event", "demo"]),
    ("CLAUDE_DOCKER_EVENTS_FILE", "events.jsonl", ["log-event", "demo"]),
    ("CLAUDE_DOCKER_TEXTFILE_DIR", "textfile", ["metrics", "collect"]),
    ("CLAUDE_DOCKER_STATE_DIR", "relative", ["held", "list"]),
    ("CLAUDE_DOCKER_STATE_DIR", "relative", ["flush"]),  # one line, not one per sink with status 1
    ("CLAUDE_DOCKER_METRICS_FILE", "metrics.jsonl", ["flush"]),
])
def test_every_command_refuses_a_bad_setting_it_reads(home, name, value, args):
    env = {"HOME": str(home), "PATH": os.environ["PATH"], name: value}
    result = helper(env, *args)
    assert result.returncode == 125, result.stderr
    from claude_docker.envspec import SETTINGS

    assert result.stderr == f"claude-docker: {name}={value!r}: expected {SETTINGS[name].accepts}\n"
    assert not (home / ".claude-docker-events.jsonl").exists()


def test_doctor_lists_every_bad_setting_and_a_likely_typo(home):
    bad = dict(REFUSED[:5])
    env = {"HOME": str(home), "PATH": os.environ["PATH"], **bad, "CLAUDE_DOCKER_READONLY": "1"}
    result = helper(env, "doctor", "--json")
    assert result.returncode == exitcodes.FAILURE, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    for name, value in bad.items():
        assert checks[name]["status"] == "fail" and f"{name}={value!r}" in checks[name]["detail"]
        assert name in checks[name]["fix"]
    assert checks["CLAUDE_DOCKER_READONLY"]["status"] == "warn"
    assert "internal error" not in result.stderr


def test_doctor_passes_the_settings_when_all_are_good(home):
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "CLAUDE_DOCKER_READ_ONLY": "yes",
           "CLAUDE_DOCKER_MEMORY": "512m", "CLAUDE_DOCKER_CAP_ADD": "cap_net_admin"}
    checks = {c["name"]: c for c in json.loads(helper(env, "doctor", "--json").stdout)["checks"]}
    assert checks["settings"]["status"] == "ok" and checks["settings"]["detail"].startswith("3 ")


@pytest.mark.docker
def test_doctor_fails_a_network_that_does_not_exist(home, docker_client):
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "CLAUDE_DOCKER_NETWORK": "claude-docker-test-no-such-net"}
    checks = {c["name"]: c for c in json.loads(helper(env, "doctor", "--json").stdout)["checks"]}
    assert checks["network"]["status"] == "fail"
    assert "CLAUDE_DOCKER_NETWORK='claude-docker-test-no-such-net'" in checks["network"]["detail"]
    env["CLAUDE_DOCKER_NETWORK"] = "none"
    checks = {c["name"]: c for c in json.loads(helper(env, "doctor", "--json").stdout)["checks"]}
    assert checks["network"]["status"] == "ok"


def test_the_table_and_the_readme_list_the_same_settings():
    from claude_docker import envspec

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration"):readme.index("## Exit status")]
    documented = set(re.findall(r"`(CLAUDE_DOCKER_[A-Z0-9_]+)`", table))
    assert documented == set(envspec.SETTINGS)


def test_no_module_reads_a_setting_but_through_the_table():
    direct = re.compile(r"""environ(?:\.get\(|\[)\s*["']CLAUDE_DOCKER_""")
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if direct.search(p.read_text())]
    assert offenders == []


def test_defaults_come_from_the_table():
    from claude_docker import envspec

    assert envspec.get("CLAUDE_DOCKER_LOG_MAX_BYTES", {}) == 16 * 1024 * 1024
    assert envspec.get("CLAUDE_DOCKER_BACKUP_INTERVAL", {"CLAUDE_DOCKER_BACKUP_INTERVAL": " "}) == 3600.0
    assert envspec.get("CLAUDE_DOCKER_READ_ONLY", {"CLAUDE_DOCKER_READ_ONLY": "On"}) is True
    assert envspec.get("CLAUDE_DOCKER_MEMORY", {"CLAUDE_DOCKER_MEMORY": "none"}) is None
    assert envspec.memory_bytes("1.5GiB") == 3 * 512 * 1024 * 1024


def test_one_home_even_when_HOME_is_empty(monkeypatch):
    """An empty HOME made `~/.claude-docker` a relative path (the current directory's)."""
    import pwd

    from claude_docker import paths
    from claude_docker.obs import settings

    monkeypatch.setenv("HOME", "")
    monkeypatch.delenv("CLAUDE_DOCKER_STATE_DIR", raising=False)
    monkeypatch.delenv("CLAUDE_DOCKER_EVENTS_FILE", raising=False)
    monkeypatch.delenv("CLAUDE_DOCKER_TRACES_DIR", raising=False)
    own = pwd.getpwuid(os.getuid()).pw_dir
    assert paths.state_dir() == Path(own) / ".claude-docker"
    assert settings.events_file() == Path(own) / ".claude-docker-events.jsonl"
    assert settings.traces_dir() == Path(own) / ".claude-docker-traces"


def _literal_in(text: str) -> list[str]:
    return [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py")) if text in p.read_text()]


def test_one_default_image_one_socket_path_one_check_type():
    assert _literal_in('"claude-docker/claude-code') == ["__init__.py"]
    assert _literal_in('"/var/run/docker.sock"') == ["engine.py"]
    assert _literal_in("class Check") + _literal_in('namedtuple("Check"') == ["checks.py"]
    from claude_docker import DEFAULT_IMAGE
    from claude_docker.image import profiles

    assert profiles.tag() == DEFAULT_IMAGE


def test_verify_recovery_gives_the_one_check_type(home):
    from claude_docker.backup.recovery import verify_recovery
    from claude_docker.checks import Check
    from claude_docker.paths import ClaudeHome

    checks = verify_recovery(ClaudeHome.from_env())
    assert checks and all(isinstance(c, Check) for c in checks)
    assert not checks[0].ok and checks[0].status == "fail"


def test_the_docker_socket_mounted_is_the_engines_own():
    from claude_docker.container import run_argv
    from claude_docker.options import RunOptions
    from test_container import spec  # the shared SessionSpec builder

    opts = RunOptions.from_env({"CLAUDE_DOCKER_DOCKER_SOCKET": "1", "CLAUDE_DOCKER_NETWORK": "bridge"})
    argv = run_argv("docker", spec(), opts, [], {"DOCKER_HOST": "unix:///run/user/1000/docker.sock"})
    assert "type=bind,source=/run/user/1000/docker.sock,target=/var/run/docker.sock" in argv
