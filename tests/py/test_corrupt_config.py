"""A broken config is never run on: `claude` refuses it (125, one line) before anything is staged or
started, because Claude Code would write a fresh config over it and the sync would take that, leaving
`claude-dr` nothing to recover. Then `claude-dr` brings every key back; CLAUDE_DOCKER_AUTO_RECOVER=1 does that
first by itself and runs the session only on a recovery that verified."""

from __future__ import annotations

import json
import time

import pytest

from claude_docker.backup.create import create
from claude_docker.backup.store import Store
from claude_docker.backup.triggers import before_sync
from claude_docker.container import LABEL_PREFIX
from claude_docker.paths import ClaudeHome
from shell import plugin_env, run_claude
from test_backup import cli
from test_recovery import BREAKAGES

CORRUPTIONS = ("truncated", "invalid", "empty", "wrong type")
# What a user stands to lose: the login and the per-project trust and tools, besides their settings.
USER_CONFIG = {
    "numStartups": 57,
    "userID": "0f3c9e",
    "hasCompletedOnboarding": True,
    "theme": "dark",
    "oauthAccount": {"accountUuid": "6a1d6c2e-0000-4000-8000-000000000001", "emailAddress": "user@example.com",
                     "organizationUuid": "6a1d6c2e-0000-4000-8000-000000000002", "organizationRole": "admin"},
    "projects": {"/home/u/app": {"hasTrustDialogAccepted": True, "allowedTools": ["Bash(make test)"]},
                 "/home/u/site": {"hasTrustDialogAccepted": True, "allowedTools": []}},
}
# What Claude Code does on a config it can't read: starts afresh and writes a minimal one over it.
FRESH_STUB = """echo '{"numStartups": 1}' > "$HOME/.claude.json\""""


@pytest.fixture
def user_state(home):
    """A good config with a backup of it, and a project to run in."""
    (home / ".claude").mkdir()
    (home / ".claude" / "settings.json").write_text('{"theme": "dark"}')
    (home / ".claude.json").write_text(json.dumps(USER_CONFIG, indent=2))
    good = create(ClaudeHome.from_env(), "manual")
    project = home / "proj"
    project.mkdir()
    return {"project": project, "backup": good["id"]}


def containers_created(docker_client, project, since: float) -> list:
    """The containers Docker created for sessions in `project` since then (gone or not: sessions run --rm)."""
    return list(docker_client.events(since=int(since), until=int(time.time()) + 1, decode=True, filters={
        "type": "container", "event": "create", "label": f"{LABEL_PREFIX}project={project}"}))


@pytest.mark.docker
@pytest.mark.parametrize("breakage", CORRUPTIONS)
def test_claude_refuses_a_broken_config_and_claude_dr_brings_every_key_back(
        home, user_state, fake_image, docker_client, no_leftover_containers, breakage):
    BREAKAGES[breakage](home)
    broken = (home / ".claude.json").read_bytes()
    project = user_state["project"]
    since = time.time()
    result = run_claude(project, plugin_env(home, fake_image), "sh", f"touch ran; {FRESH_STUB}")
    assert result.returncode == 125, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("claude-docker: ")
    assert str(home / ".claude.json") in result.stderr and "run `claude-dr`" in result.stderr
    assert (home / ".claude.json").read_bytes() == broken
    assert not (project / "ran").exists()
    assert not (home / ".claude-docker" / "sessions").exists()
    assert containers_created(docker_client, project, since) == []
    dr = cli("dr", "--yes", "--no-smoke", "--json")
    assert dr.returncode == 0, dr.stderr
    report = json.loads(dr.stdout)
    assert report["outcome"] == "recovered" and report["backups"] == [user_state["backup"]]
    assert json.loads((home / ".claude.json").read_text()) == USER_CONFIG


@pytest.mark.docker
def test_broken_settings_stop_the_start_and_a_broken_cache_is_only_said(home, user_state, fake_image,
                                                                       docker_client, no_leftover_containers):
    project, env = user_state["project"], plugin_env(home, fake_image)
    BREAKAGES["settings broken"](home)
    result = run_claude(project, env, "sh", "touch ran")
    assert result.returncode == 125 and result.stderr.count("\n") == 1
    assert f"{home / '.claude' / 'settings.json'} is not valid JSON" in result.stderr
    assert not (project / "ran").exists()
    (home / ".claude" / "settings.json").write_text('{"theme": "dark"}')
    (home / ".claude" / "stats-cache.json").write_text('{"dailyActivity": [')  # Claude Code rebuilds it
    since = time.time()
    result = run_claude(project, env, "sh", "touch ran")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"claude-docker: Claude Code's config is broken: "
                                    f"{home / '.claude' / 'stats-cache.json'} is not valid JSON")
    assert (project / "ran").exists() and len(containers_created(docker_client, project, since)) == 1


@pytest.mark.docker
def test_auto_recover_restores_first_then_runs_the_session_on_the_good_config(
        home, user_state, fake_image, docker_client, no_leftover_containers):
    BREAKAGES["truncated"](home)
    project = user_state["project"]
    since = time.time()
    env = plugin_env(home, fake_image, CLAUDE_DOCKER_AUTO_RECOVER="1")
    result = run_claude(project, env, "sh", 'cat "$HOME/.claude.json"')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == USER_CONFIG  # what the session saw
    assert "claude-docker: recovered 1 file(s) in " in result.stderr
    assert json.loads((home / ".claude.json").read_text()) == USER_CONFIG
    assert len(containers_created(docker_client, project, since)) == 1


@pytest.mark.docker
def test_auto_recover_that_cannot_recover_starts_nothing(home, fake_image, docker_client, no_leftover_containers):
    (home / ".claude").mkdir()
    (home / ".claude.json").write_text('{"oauthAccount": ')  # and no backup to recover from
    project = home / "proj"
    project.mkdir()
    since = time.time()
    result = run_claude(project, plugin_env(home, fake_image, CLAUDE_DOCKER_AUTO_RECOVER="1"), "sh", FRESH_STUB)
    assert result.returncode == 125, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("claude-docker: not starting Claude Code on a broken config")
    assert f"{home / '.claude.json'} is not valid JSON" in last
    assert "its automatic recovery failed (no backups in " in last and "claude-dr" in last
    assert (home / ".claude.json").read_text() == '{"oauthAccount": '
    assert containers_created(docker_client, project, since) == []


@pytest.mark.parametrize("breakage", CORRUPTIONS)
def test_backups_of_a_broken_config_never_beat_an_older_good_one(home, user_state, monkeypatch, breakage):
    BREAKAGES[breakage](home)
    store = Store()
    before = store.snapshot_ids()
    monkeypatch.setenv("CLAUDE_DOCKER_BACKUP_INTERVAL", "3600")
    warning = before_sync(ClaudeHome.from_env())
    assert warning and "no backup" in warning and str(home / ".claude.json") in warning
    assert store.snapshot_ids() == before  # the pre-sync path records no broken state
    hourly = json.loads(cli("backup", "create", "--json").stdout)  # a full backup of it does get taken
    report = json.loads(cli("dr", "--yes", "--no-smoke", "--json").stdout)
    assert report["backups"] == [user_state["backup"]]
    assert report["skipped"][0]["snapshot"] == hourly["id"] and ".claude.json" in report["skipped"][0]["why"]
    assert json.loads((home / ".claude.json").read_text()) == USER_CONFIG
