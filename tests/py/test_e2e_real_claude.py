"""End to end with the real Claude Code binary in the image `claude-docker image build` made, through the
`claude` zsh function, against the local fake Anthropic API. Containers use the host network (to reach
127.0.0.1) or none."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from claude_docker.launcher.staging import transcript_dir_name
from fakeapi import FakeAnthropic
from shell import plugin_env, run_claude

pytestmark = [pytest.mark.docker, pytest.mark.image]


@pytest.fixture
def project(home):
    p = home / "work" / "my proj"
    (p / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(p)], check=True)
    return p


def test_prompt_in_answer_out_transcript_on_host(home, project, real_image, no_leftover_containers):
    with FakeAnthropic(reply="pong from the fake API") as api:
        env = plugin_env(home, real_image, CLAUDE_DOCKER_NETWORK="host", ANTHROPIC_BASE_URL=api.url,
                         ANTHROPIC_API_KEY="sk-test-key")
        result = run_claude(project / "src", env, "-p", "hello from the test")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "pong from the fake API"
        assert api.last_prompt_text() == "hello from the test"
        assert api.messages_requests()[-1]["headers"]["x-api-key"] == "sk-test-key"
    # The transcript is keyed by the project root's real path, exactly as natively, and lives on the host.
    transcripts = list((home / ".claude" / "projects" / transcript_dir_name(project / "src")).glob("*.jsonl"))
    assert transcripts, list((home / ".claude" / "projects").iterdir())
    assert "hello from the test" in transcripts[0].read_text()
    assert isinstance(json.loads((home / ".claude.json").read_text()), dict)
    assert not list((home / ".claude-docker" / "sessions").iterdir())


def test_json_output_and_piped_prompt(home, project, real_image, no_leftover_containers):
    with FakeAnthropic(reply="piped ok") as api:
        env = plugin_env(home, real_image, CLAUDE_DOCKER_NETWORK="host", ANTHROPIC_BASE_URL=api.url,
                         ANTHROPIC_API_KEY="sk-test")
        result = run_claude(project, env, "-p", "--output-format", "json", stdin="prompt through a pipe\n")
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert out["is_error"] is False and out["result"] == "piped ok"
        assert "prompt through a pipe" in api.last_prompt_text()


def test_not_logged_in_exits_1(home, project, real_image, no_leftover_containers):
    result = run_claude(project, plugin_env(home, real_image), "-p", "ping", stdin="")
    assert result.returncode == 1
    assert "Not logged in" in result.stdout
    assert isinstance(json.loads((home / ".claude.json").read_text()), dict)


def test_version_through_the_wrapper(home, project, real_image, no_leftover_containers):
    result = run_claude(project, plugin_env(home, real_image), "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "2.1.197 (Claude Code)"
    assert result.stderr == ""


@pytest.fixture(scope="session")
def native_claude(real_image, docker_client, tmp_path_factory) -> Path:
    """The same Claude Code binary, taken out of the image to run on the host: what `natively` means."""
    out = tmp_path_factory.mktemp("native")
    container = docker_client.containers.create(real_image, entrypoint=["true"], network_disabled=True)
    try:
        stream, _ = container.get_archive("/usr/local/bin/claude")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            tar.extract("claude", out)
    finally:
        container.remove()
    return out / "claude"


def test_a_benign_session_leaves_nothing_held_and_resumes_natively(home, project, real_image, native_claude,
                                                                   no_leftover_containers):
    """What real Claude Code writes in an ordinary session all flows: no notice, nothing held; the
    transcript continues in the container, and then natively on the host."""
    with FakeAnthropic(reply="first answer") as api:
        env = plugin_env(home, real_image, CLAUDE_DOCKER_NETWORK="host", ANTHROPIC_BASE_URL=api.url,
                         ANTHROPIC_API_KEY="sk-test-key")
        first = run_claude(project, env, "-p", "remember the word pelican")
        assert first.returncode == 0 and first.stderr == "", first.stderr
        again = run_claude(project, env, "-p", "--continue", "which word?")
        assert again.returncode == 0 and again.stderr == "", again.stderr
        assert "remember the word pelican" in json.dumps(api.messages_requests()[-1]["json"]["messages"])
        native_env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "ANTHROPIC_BASE_URL": api.url,
                      "ANTHROPIC_API_KEY": "sk-test-key", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                      "DISABLE_AUTOUPDATER": "1"}
        native = subprocess.run([str(native_claude), "-p", "--continue", "and natively?"], cwd=project, env=native_env,
                                capture_output=True, text=True, timeout=120)
        assert native.returncode == 0, native.stdout + native.stderr
        sent = json.dumps(api.messages_requests()[-1]["json"]["messages"])
        assert "remember the word pelican" in sent and "which word?" in sent  # both container turns resumed
    held = home / ".claude-docker" / "held"
    assert not held.exists() or not list(held.iterdir())
    [transcript] = (home / ".claude" / "projects" / transcript_dir_name(project)).glob("*.jsonl")
    assert "and natively?" in transcript.read_text()
