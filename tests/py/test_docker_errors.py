"""Docker's failures reach the user as one line that says what to do: no daemon, a socket the user may not
open (the same diagnosis from `claude`, `health` and `doctor`), a network that doesn't exist, a path docker's
flags can't carry, and the reason a smoke run of the image failed."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys

import pytest

from otheruser import as_user
from shell import plugin_env, run_claude


def helper(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", "-m", "claude_docker", *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("args", [["ps"], ["cleanup"], ["image", "build"], ["backup", "verify-recovery"]])
def test_no_daemon_is_one_line_naming_the_socket(home, tmp_path, args):
    nothing = tmp_path / "nothing.sock"  # nothing listens there
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "NO_COLOR": "1", "DOCKER_HOST": f"unix://{nothing}"}
    result = helper(env, *args)
    if args[0] == "backup":  # recovery's own check: the image's, failed with Docker's real reason, on one line
        image = [line for line in result.stdout.splitlines() if line.startswith("✗ image:")]
        assert result.returncode == 5 and len(image) == 1, result.stdout
        assert f"Cannot connect to the Docker daemon at unix://{nothing}" in image[0]
        return
    assert result.returncode == 125, result.stderr
    assert result.stderr == (f"claude-docker: the Docker daemon is not reachable at {nothing}: "
                             "start dockerd (is it running?), or set DOCKER_HOST\n")


def test_doctor_diagnoses_no_daemon_as_claude_does(home, tmp_path):
    nothing = tmp_path / "nothing.sock"
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "DOCKER_HOST": f"unix://{nothing}"}
    daemon = {c["name"]: c for c in json.loads(helper(env, "doctor", "--json").stdout)["checks"]}["docker daemon"]
    assert daemon["status"] == "fail"
    assert daemon["detail"] == f"the Docker daemon is not reachable at {nothing}"
    assert daemon["fix"] == "start dockerd (is it running?), or set DOCKER_HOST"


def test_permission_denied_has_one_diagnosis_everywhere(user_home):
    """doctor used to say "start dockerd" where claude and health said "add yourself to the docker group"."""
    sock_path = user_home / "docker.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(sock_path))
        listener.listen(1)
        os.chmod(sock_path, 0o600)  # root's: to that user, as /var/run/docker.sock to one not in the docker group
        env = {"HOME": str(user_home / "home"), "PATH": os.environ["PATH"], "NO_COLOR": "1",
               "DOCKER_HOST": f"unix://{sock_path}"}

        def helper_as_user(*args: str) -> subprocess.CompletedProcess:
            python = shlex.quote(str(user_home / "venv/bin/python"))
            return as_user(user_home, env, f"cd ~/project && {python} -m claude_docker {shlex.join(args)}")

        fix = "add yourself to the docker group (sudo usermod -aG docker $USER, then log in again)"
        problem = f"permission denied on the Docker socket {sock_path}"
        run = helper_as_user("run", "--", "--version")
        assert run.returncode == 125 and run.stderr == f"claude-docker: {problem}: {fix}\n"
        health = {c["name"]: c for c in json.loads(helper_as_user("health", "--json").stdout)["checks"]}["docker"]
        assert health["detail"] == f"{problem}: {fix}"
        checks = json.loads(helper_as_user("doctor", "--json").stdout)["checks"]
        doctor = {c["name"]: c for c in checks}["docker daemon"]
        assert (doctor["status"], doctor["detail"], doctor["fix"]) == ("fail", problem, fix)
        ps = helper_as_user("ps")
        assert ps.returncode == 125 and ps.stderr == f"claude-docker: {problem}: {fix}\n"
    finally:
        listener.close()


@pytest.mark.docker
@pytest.mark.parametrize("network,missing", [
    ("claude-docker-test-no-such-net",
     "no such network on the Docker engine: create it (docker network create), or use bridge, host or none"),
    ("container:claude-docker-test-no-such-container",
     ("no such container on the Docker engine to share the network of: start that container, or use bridge, "
      "host or none")),
], ids=["a-named-network", "a-shared-container"])
def test_a_network_that_does_not_exist_is_one_line_naming_the_setting(home, fake_image, network, missing):
    project = home / "project"
    project.mkdir()
    env = plugin_env(home, fake_image, CLAUDE_DOCKER_NETWORK=network)
    result = run_claude(project, env, "--version")
    assert result.returncode == 125
    assert result.stderr == f"claude-docker: CLAUDE_DOCKER_NETWORK={network!r}: {missing}\n"
    doctor = json.loads(helper(env, "doctor", "--json").stdout)["checks"]
    assert {c["name"]: c["status"] for c in doctor}["network"] == "fail"


@pytest.mark.docker
def test_a_newline_in_the_project_path_is_one_line(home, fake_image):
    project = home / "two\nlines"
    project.mkdir()
    result = run_claude(project, plugin_env(home, fake_image), "--version")
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1 and "control character" in result.stderr, result.stderr
    assert "Usage:" not in result.stderr
    sessions = home / ".claude-docker" / "sessions"
    assert not sessions.exists() or not any(sessions.iterdir())


@pytest.mark.docker
def test_verify_recovery_names_a_missing_image_in_one_line(home, docker_client):
    """It used to report docker's last line: "Run 'docker run --help' for more information"."""
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "NO_COLOR": "1",
           "CLAUDE_DOCKER_IMAGE": "claude-docker-test/absent:0"}
    result = helper(env, "backup", "verify-recovery", "--json")
    image = {c["check"]: c for c in json.loads(result.stdout)}["image"]
    assert not image["ok"]
    assert image["detail"] == ("claude-docker-test/absent:0 is not on this engine (the ladder never pulls): build or "
                               "pull it first"), image["detail"]


def test_dockers_reason_is_its_docker_line():
    from claude_docker.engine import cli_failure

    text = ("Unable to find image 'x:1' locally\ndocker: Error response from daemon: pull access denied for x.\n\n"
            "Run 'docker run --help' for more information\n")
    assert cli_failure(text) == "pull access denied for x."
    assert cli_failure("Cannot connect to the Docker daemon at unix:///x.sock\n") == \
        "Cannot connect to the Docker daemon at unix:///x.sock"


@pytest.mark.docker
def test_a_container_docker_refused_to_run_is_no_session_start_in_the_event_log(home, fake_image):
    project = home / "project"
    project.mkdir()
    env = plugin_env(home, fake_image, CLAUDE_DOCKER_RUN_ARGS="--claude-docker-test-no-such-flag",
                     CLAUDE_DOCKER_BACKGROUND_FLUSH="0")
    result = run_claude(project, env, "--version")
    assert result.returncode == 125
    events = [json.loads(line) for line in (home / ".claude-docker-events.jsonl").read_text().splitlines()]
    names = [e["event"] for e in events]
    assert "session.start" not in names and "docker.error" in names, names
    refused = next(e for e in events if e["event"] == "docker.error")
    assert refused["outcome"] == "tool_failed" and "status 125" in refused["message"]
    assert next(e for e in events if e["event"] == "session.end")["outcome"] != "ok"
