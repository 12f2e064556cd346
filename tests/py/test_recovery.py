"""Disaster recovery: `claude-dr` on each kind of breakage, the skip of a damaged newest backup, the
runbook's events and trace, and the triggers (the check at every `claude` start, the backup before sync)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from claude_docker.backup.create import create
from claude_docker.paths import ClaudeHome
from shell import plugin_env, run_claude
from synthstate import make_state
from test_backup import _corrupt_newest_only_chunk, cli, tree

BREAKAGES = {
    "truncated": lambda h: (h / ".claude.json").write_bytes((h / ".claude.json").read_bytes()[:100]),
    "invalid": lambda h: (h / ".claude.json").write_text("{'not': json}"),
    "empty": lambda h: (h / ".claude.json").write_text(""),
    "wrong type": lambda h: (h / ".claude.json").write_text("[1, 2, 3]"),
    "settings broken": lambda h: (h / ".claude" / "settings.json").write_text('{"theme": "dark",'),
    "config dir deleted": lambda h: shutil.rmtree(h / ".claude"),
}


@pytest.fixture
def backed_up(home):
    make_state(home, 2 << 20, 30)
    create(ClaudeHome.from_env(), "manual")
    return {"tree": tree(home / ".claude"), "json": (home / ".claude.json").read_bytes()}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_claude_dr_brings_back_the_last_good_state_and_verifies_it(home, backed_up, breakage):
    BREAKAGES[breakage](home)
    result = cli("dr", "--yes", "--no-smoke")
    assert result.returncode == 0, result.stderr
    after = tree(home / ".claude")
    after.pop(".claude-docker-sync.lock", None)
    assert after == backed_up["tree"]
    assert (home / ".claude.json").read_bytes() == backed_up["json"]
    lines = result.stdout.splitlines()
    assert all(line.startswith("✓ ") for line in lines[:-1]), result.stdout
    assert lines[-1].startswith("recovered: ") and "undo with `claude-docker backup restore " in lines[-1]
    assert cli("dr", "--yes", "--no-smoke").stdout == "nothing to recover: Claude Code's config is sound and complete\n"


def test_files_that_are_fine_are_never_touched(home, backed_up):
    (home / ".claude" / "settings.json").write_text('{"theme": "changed after the backup, and fine"}')
    (home / ".claude.json").write_text("{")
    assert cli("dr", "--yes", "--no-smoke").returncode == 0
    assert json.loads((home / ".claude" / "settings.json").read_text())["theme"].startswith("changed after")
    assert (home / ".claude.json").read_bytes() == backed_up["json"]


def test_a_damaged_newest_backup_is_skipped_with_its_reason(home, backed_up):
    from claude_docker.backup.store import Store

    older = Store().load(Store().snapshot_ids()[-1])
    (home / ".claude" / "settings.json").write_text('{"theme": "newer"}')
    newest = create(ClaudeHome.from_env(), "manual")
    _corrupt_newest_only_chunk(home, newest, older)
    (home / ".claude.json").write_text("")
    result = cli("dr", "--yes", "--no-smoke", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["backups"] == [older["id"]]
    assert report["skipped"][0]["snapshot"] == newest["id"] and "settings.json" in report["skipped"][0]["why"]
    assert report["outcome"] == "recovered" and all(c["ok"] for c in report["checks"])


def test_it_asks_first_and_refuses_to_guess_without_a_terminal(home, backed_up):
    (home / ".claude.json").write_text("[]")
    result = cli("dr", "--no-smoke", stdin="")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == ("claude-docker: recovery needs an answer and there is no terminal "
                                             "to ask on: pass --yes")
    assert (home / ".claude.json").read_text() == "[]"


def test_the_runbook_is_one_trace_of_events_and_spans(home, backed_up):
    (home / ".claude.json").write_text("nope")
    report = json.loads(cli("dr", "--yes", "--no-smoke", "--json").stdout)
    events = [json.loads(line) for line in (home / ".claude-docker-events.jsonl").read_text().splitlines()]
    dr = [e for e in events if e["event"].startswith("disaster_recovery.")]
    assert [e["event"] for e in dr] == [f"disaster_recovery.{s}" for s in
                                        ("diagnose", "find_backup", "orphans", "restore", "verify", "end")]
    assert {e["trace_id"] for e in dr} == {report["trace_id"]}
    assert dr[-1]["outcome"] == "ok" and dr[-1]["fields"]["files"] == 1
    spans = [s for line in (home / ".claude-docker-traces" / "traces.jsonl").read_text().splitlines()
             for rs in json.loads(line)["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]
             if s["traceId"] == report["trace_id"]]
    assert sorted(s["name"] for s in spans) == sorted(["disaster_recovery", "diagnose", "orphans", "find_backup",
                                                       "restore", "verify"])
    assert any(e["event"] == "backup.created" and e["fields"]["reason"] == "pre-restore" for e in events)


def test_the_shims_reach_the_runbook(home, backed_up):
    (home / ".claude.json").write_text("{")
    env = dict(os.environ, CLAUDE_DOCKER_PYTHON=sys.executable)
    plugin = os.path.join(os.path.dirname(__file__), "..", "..", "ai-assistant.zsh")
    script = (f"source {plugin!r}; find_good_backup >/dev/null || exit 9; "
              "claude-dr --yes --no-smoke >/dev/null || exit 8; verify_recovery --no-smoke")
    result = subprocess.run(["zsh", "-f", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "✓ .claude.json: valid JSON" in result.stdout


@pytest.mark.docker
def test_a_claude_start_says_the_config_is_broken_and_points_at_claude_dr(home, backed_up, fake_image,
                                                                         no_leftover_containers):
    (home / ".claude.json").write_text('{"numStartups": ')
    project = home / "proj"
    project.mkdir()
    result = run_claude(project, plugin_env(home, fake_image), "--version")
    assert result.returncode == 125
    assert result.stderr.startswith("claude-docker: not starting Claude Code on a broken config")
    assert f"{home / '.claude.json'} is not valid JSON" in result.stderr
    assert "run `claude-dr` to restore it from the last good backup" in result.stderr
    auto = run_claude(project, plugin_env(home, fake_image, CLAUDE_DOCKER_AUTO_RECOVER="1"), "--version")
    assert auto.returncode == 0 and "claude-docker: recovered 1 file(s) in " in auto.stderr
    assert (home / ".claude.json").read_bytes() == backed_up["json"]


@pytest.mark.docker
def test_a_sync_that_changes_the_host_is_preceded_by_a_backup_and_an_hourly_one_starts(home, fake_image,
                                                                                       no_leftover_containers):
    from claude_docker.backup.store import Store

    (home / ".claude").mkdir()
    (home / ".claude.json").write_text('{"numStartups": 1, "projects": {}}')
    project = home / "proj"
    project.mkdir()
    env = plugin_env(home, fake_image, CLAUDE_DOCKER_BACKUP_INTERVAL="3600")
    result = run_claude(project, env, "set-key", "theme", '"light"')
    assert result.returncode == 0, result.stderr
    assert json.loads((home / ".claude.json").read_text())["theme"] == "light"
    store = Store(home / ".claude-docker" / "backups")
    log = home / ".claude-docker-events.jsonl"
    deadline = time.time() + 60
    while b'"backup.pruned"' not in log.read_bytes() and time.time() < deadline:
        time.sleep(0.1)  # the hourly backup (then a prune) runs detached, started once the session ran
    manifests = [store.load(s) for s in store.snapshot_ids()]
    pre_sync = [m for m in manifests if m["reason"] == "pre-sync"]
    assert pre_sync and pre_sync[0]["scope"] == "config"
    entry = {e["path"]: e for e in pre_sync[0]["entries"]}["claude.json"]
    data = b"".join(store.get_chunk(c, n) for c, n in entry["chunks"])
    assert json.loads(data) == {"numStartups": 1, "projects": {}}  # the state before the sync wrote it
    assert any(m["reason"] == "hourly" and m["scope"] == "full" for m in manifests)


@pytest.mark.docker
def test_a_long_session_is_backed_up_every_interval(home, fake_image, no_leftover_containers):
    (home / ".claude").mkdir()
    (home / ".claude.json").write_text('{"numStartups": 1}')
    project = home / "proj"
    project.mkdir()
    env = plugin_env(home, fake_image, CLAUDE_DOCKER_BACKUP_INTERVAL="1")
    result = run_claude(project, env, "sh", "sleep 6.5")
    assert result.returncode == 0, result.stderr
    log = home / ".claude-docker-events.jsonl"

    def counts():
        events = [json.loads(line) for line in log.read_text().splitlines()]
        made = sum(1 for e in events if e["event"] == "backup.created" and e["fields"]["reason"] == "hourly")
        return made, sum(1 for e in events if e["event"] == "backup.pruned")

    # Each detached backup, then its prune, one after another under the store's lock; done when every
    # backup has been pruned after and nothing new came for 2 s (the last one spawned has started by then).
    deadline, last, stable_since = time.time() + 60, None, time.time()
    while time.time() < deadline:
        now = counts()
        if now != last:
            last, stable_since = now, time.time()
        elif now[0] >= 3 and now[0] == now[1] and time.time() - stable_since > 2:
            break
        time.sleep(0.2)
    made, pruned = counts()
    # At the start, then whenever the last one is a second old while the session ran (each takes a while).
    assert made >= 3 and made == pruned


def test_a_backup_taken_after_a_wipe_is_no_recovery_point(home, backed_up):
    shutil.rmtree(home / ".claude")
    (home / ".claude").mkdir()
    wiped = cli("backup", "create", "--json")  # an hourly backup after the wipe
    assert wiped.returncode == 0
    result = cli("dr", "--yes", "--no-smoke", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped"][0]["snapshot"] == json.loads(wiped.stdout)["id"]
    assert "(a wiped state)" in report["skipped"][0]["why"]
    after = tree(home / ".claude")
    after.pop(".claude-docker-sync.lock", None)
    assert after == backed_up["tree"]
    verify = cli("backup", "verify")
    assert verify.returncode == 0 and "! " in verify.stdout  # whole, but no recovery point


def test_one_automatic_backup_runs_at_a_time_however_short_the_interval(home, monkeypatch):
    """Each timer tick of each session may ask for the automatic backup; while one runs, no other starts (a
    tiny CLAUDE_DOCKER_BACKUP_INTERVAL once piled up dozens)."""
    from claude_docker import background
    from claude_docker.backup import triggers

    (home / ".claude").mkdir()
    (home / ".claude.json").write_text('{"numStartups": 1}')
    spawned = []
    monkeypatch.setattr(background, "spawn_detached", spawned.append)
    monkeypatch.setenv("CLAUDE_DOCKER_BACKUP_INTERVAL", "0.05")
    running = triggers.automatic_slot()  # as a detached automatic backup holds it for its run
    assert running is not None and triggers.automatic_slot() is None
    with running:
        triggers.spawn_full_backup()
        assert spawned == []
        late = cli("backup", "create", "--reason", "hourly", "--json")  # one spawned just before: nothing to do
        assert late.returncode == 0 and late.stdout == ""
        assert json.loads(cli("backup", "list", "--json").stdout) == []
        assert cli("backup", "create", "--json").returncode == 0  # a manual backup is not held back
    time.sleep(0.1)  # the manual full backup is older than the interval again
    triggers.spawn_full_backup()
    assert len(spawned) == 1 and spawned[0][:4] == ["backup", "create", "--reason", "hourly"]
