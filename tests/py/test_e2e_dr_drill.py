"""The disaster-recovery drill, end to end: a 1 GB Claude state backed up hourly-style, transcripts grown,
then `~/.claude` deleted and `.claude.json` corrupted; `claude-dr --yes` brings it all back, verifies it
with a smoke run of the real Claude Code image, and reports its recovery time; then a real session works."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from fakeapi import FakeAnthropic
from shell import helper, plugin_env, run_claude
from synthstate import append_turns, make_state
from test_backup import tree

pytestmark = [pytest.mark.docker, pytest.mark.image]

STATE_BYTES = 1 << 30
FILES = 20_000


def test_drill_recovers_a_1gb_state_and_claude_code_runs_on_it(home, real_image, no_leftover_containers, capsys):
    transcripts = make_state(home, STATE_BYTES, FILES)
    env = plugin_env(home, real_image)
    first = helper(env, "backup", "create", "--json", timeout=600)
    assert first.returncode == 0, first.stderr
    append_turns(transcripts, 0.01, 20_000)
    second = helper(env, "backup", "create", "--json", timeout=600)
    assert second.returncode == 0, second.stderr
    incremental = json.loads(second.stdout)
    assert incremental["files_read"] == FILES // 100
    expected = tree(home / ".claude")
    expected_json = (home / ".claude.json").read_bytes()

    shutil.rmtree(home / ".claude")
    (home / ".claude.json").write_bytes(expected_json[: len(expected_json) // 3])
    result = helper(env, "dr", "--yes", "--json", timeout=900)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "recovered"
    assert {c["check"]: c["ok"] for c in report["checks"]}["image"] is True
    assert all(c["ok"] for c in report["checks"]), report["checks"]
    assert "(Claude Code)" in {c["check"]: c["detail"] for c in report["checks"]}["image"]
    after = tree(home / ".claude")
    after.pop(".claude-docker-sync.lock", None)
    assert after == expected and (home / ".claude.json").read_bytes() == expected_json
    with capsys.disabled():
        print(f"\n  drill: 1 GiB, {FILES} files recovered in {report['seconds']:.1f}s "
              f"(first backup {json.loads(first.stdout)['seconds']:.1f}s, incremental {incremental['seconds']:.1f}s)")

    project = home / "work" / "drill"
    project.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    with FakeAnthropic(reply="alive after the drill") as api:
        session = run_claude(project, plugin_env(home, real_image, CLAUDE_DOCKER_NETWORK="host",
                                                 ANTHROPIC_BASE_URL=api.url, ANTHROPIC_API_KEY="sk-drill"),
                             "-p", "are you there?")
    assert session.returncode == 0, session.stderr
    assert session.stdout.strip() == "alive after the drill"
    assert json.loads((home / ".claude.json").read_text())["oauthAccount"] == {"emailAddress": "u@example.com"}
