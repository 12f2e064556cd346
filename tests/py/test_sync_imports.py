"""What a session's sync out costs the wrapper in imports (bench/sync_cost.py has the times): the typical
session (Claude Code rewrote `.claude.json`, a prompt went into the history) takes the config lock and a
pre-sync backup, and must not pull in orjson or filelock (~12 and ~40 ms to import in a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import test_configsync

claude_home = test_configsync.claude_home  # the fixture: a Claude state in HOME

HEAVY = ("orjson", "filelock", "uuid", "datetime")

SESSION = """
import json, os, sys
import claude_docker.launcher.run  # what the wrapper imported before its session ended
from claude_docker.launcher.staging import Staging, sync_in, sync_state
from claude_docker.launcher.syncout import sync_out
from claude_docker.paths import ClaudeHome, home
from claude_docker.sessiondir import SessionDir, new_session_id

session = SessionDir.create(new_session_id(), {"host": "t", "wrapper_pid": os.getpid(), "wrapper_start": ""})
staging = Staging(ClaudeHome.from_env(), home(), session)
manifest = sync_state(staging, sync_in(staging, home() / "project"))
if sys.argv[1] == "typical":
    staged = session.path / staging.claude_json_key
    doc = json.loads(staged.read_text())
    doc["numStartups"] += 1
    staged.write_text(json.dumps(doc, indent=2))
    with open(session.path / staging.config_key / "history.jsonl", "a") as f:
        f.write('{"display":"a new prompt"}\\n')
if sys.argv[2:] == ["prepared"]:
    from claude_docker.launcher.syncout import prepare

    prepare()  # what the wrapper does while the session runs
before = set(sys.modules)
report = sync_out(session, manifest)
print(json.dumps({"files": report.files, "warnings": report.warnings, "added": sorted(set(sys.modules) - before)}))
"""


def sync_in_fresh_process(case: str, *more: str) -> dict:
    env = dict(os.environ)
    env.pop("CLAUDE_DOCKER_BACKUP_INTERVAL", None)  # the default: a backup before every sync that writes
    out = subprocess.run([sys.executable, "-I", "-c", SESSION, case, *more], env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return json.loads(out)


def test_a_typical_sync_out_takes_its_backup_without_heavy_imports(home, claude_home):
    result = sync_in_fresh_process("typical")
    assert result["files"] == 2 and result["warnings"] == []
    assert "claude_docker.backup.create" in result["added"]  # the pre-sync backup was taken
    assert [m for m in result["added"] if m.split(".")[0] in HEAVY] == []
    assert json.loads((home / ".claude.json").read_text())["numStartups"] == 2


def test_a_sync_out_with_nothing_to_write_imports_neither_backup_nor_lock(home, claude_home):
    result = sync_in_fresh_process("nochange")
    assert result["files"] == 0
    assert [m for m in result["added"] if m.startswith(("claude_docker.backup", "claude_docker.locking"))
            or m.split(".")[0] in HEAVY + ("zstandard", "hashlib")] == []


def test_a_prepared_wrapper_imports_nothing_heavy_when_the_session_ends(home, claude_home):
    result = sync_in_fresh_process("typical", "prepared")
    assert result["files"] == 2 and result["warnings"] == []
    late = [m for m in result["added"] if m.split(".")[0] in ("zstandard", "hashlib", "_hashlib", "subprocess")
            or m in ("claude_docker.backup.create", "claude_docker.locking", "claude_docker.boundary.git")]
    assert late == []
    assert json.loads((home / ".claude.json").read_text())["numStartups"] == 2


def test_a_broken_install_never_makes_prepare_kill_the_wrapper(monkeypatch):
    """prepare() runs with Claude Code up: an import that fails there is left for sync out to report."""
    from claude_docker.launcher.syncout import prepare

    monkeypatch.setenv("CLAUDE_DOCKER_BACKUP_INTERVAL", "3600")
    monkeypatch.setitem(sys.modules, "zstandard", None)  # what a missing module looks like to import
    assert prepare() is None
