"""held/, quarantine/ and conflicts/ in the state dir: copies of config and tokens, so private (0700 folders,
0600 files, older ones fixed), pruned by age and count (held changes not yet reviewed kept longer, and said
when they go), never through a link, and listed by `doctor`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from claude_docker import keptaside
from claude_docker.boundary import policy
from claude_docker.boundary.held import HeldRecord
from claude_docker.paths import state_dir

DAY = 86400


@pytest.fixture
def umask_022():
    old = os.umask(0o022)  # the common default: what made held/ and quarantine/ 0755
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def aged(path, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(path, (when, when), follow_symlinks=False)


def kept_aside(area: str, sid: str, days: float, content: bytes = b'{"accessToken": "sk-ant-x"}') -> None:
    folder = state_dir() / area / sid
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".credentials.json").write_bytes(content)
    aged(folder, days)


def held(sid: str, days: float, pending: bool) -> None:
    record = HeldRecord(sid, "/p")
    item = record.add_file(state_dir(), "x", "x", b"data", policy.Verdict(policy.HOLD, "a test"))
    if not pending:
        item["applied"] = True
    record.save()
    aged(record.dir, days)


def test_what_a_session_keeps_aside_is_private_from_the_first_write(home, umask_022):
    from claude_docker.launcher.staging import Staging, sync_in, sync_state
    from claude_docker.launcher.syncout import sync_out
    from claude_docker.paths import ClaudeHome
    from claude_docker.sessiondir import SessionDir, new_session_id

    (home / ".claude").mkdir()
    (home / ".claude.json").write_text('{"numStartups": 1, "mcpServers": {}}')
    (home / ".claude" / "settings.json").write_text('{"theme": "dark"}')
    session = SessionDir.create(new_session_id(), {"host": "test", "wrapper_pid": os.getpid(), "wrapper_start": ""})
    staging = Staging(ClaudeHome.from_env(), home, session)
    manifest = sync_state(staging, sync_in(staging, home / "project"))
    (session.path / staging.config_key / "settings.json").write_text('{"theme": "light", "trunc')  # quarantined
    staged = session.path / staging.claude_json_key
    staged.write_text('{"numStartups": 2, "mcpServers": {"x": {"command": "/bin/evil"}}}')  # held
    report = sync_out(session, manifest)
    assert report.quarantined and report.held_in
    for area, sid in (("quarantine", session.session_id), ("held", session.session_id)):
        assert mode(state_dir() / area) == 0o700, area  # was 0755: anyone could list the sessions' copies
        assert mode(state_dir() / area / sid) == 0o700
    assert mode(state_dir() / "quarantine" / session.session_id / "settings.json") == 0o600
    assert mode(state_dir() / "held" / session.session_id / "held.json") == 0o600


def test_pruning_by_age_and_count_and_fixing_older_modes(home, umask_022):
    for n in range(keptaside.MAX_ENTRIES + 20):
        kept_aside("quarantine", f"q{n:03d}", days=n / 100)  # q000 newest
    kept_aside("conflicts", "old", days=keptaside.MAX_AGE_DAYS + 1)
    kept_aside("conflicts", "recent", days=1)
    loose = state_dir() / "conflicts" / "recent"
    os.chmod(loose / ".credentials.json", 0o644)
    os.chmod(loose, 0o755)
    aged(loose, 1)
    os.chmod(state_dir() / "conflicts", 0o755)
    assert keptaside.prune() == []
    left = sorted(os.listdir(state_dir() / "quarantine"))
    assert left == [f"q{n:03d}" for n in range(keptaside.MAX_ENTRIES)]  # the newest 100
    assert os.listdir(state_dir() / "conflicts") == ["recent"]
    assert mode(state_dir() / "conflicts") == 0o700
    assert mode(loose) == 0o700 and mode(loose / ".credentials.json") == 0o600


def test_held_records_waiting_for_review_are_kept_longer_and_said_when_dropped(home, capsys):
    held("settled", keptaside.MAX_AGE_DAYS + 5, pending=False)
    held("waiting", keptaside.MAX_AGE_DAYS + 5, pending=True)
    held("abandoned", keptaside.PENDING_MAX_AGE_DAYS + 1, pending=True)
    held("fresh", 0, pending=False)
    keptaside.prune_and_say()
    assert sorted(os.listdir(state_dir() / "held")) == ["fresh", "waiting"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("claude-docker: dropped 1 held record(s) never reviewed, older than 90 days") \
        and err.rstrip().endswith(": abandoned")


def test_pruning_never_follows_a_link(home, tmp_path):
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "precious").write_text("keep me")
    area = state_dir() / "quarantine"
    area.mkdir(parents=True)
    os.symlink(outside, area / "planted")
    kept_aside("quarantine", "old", days=keptaside.MAX_AGE_DAYS + 1)
    os.symlink(outside / "sub", state_dir() / "quarantine" / "old" / "link")
    aged(state_dir() / "quarantine" / "old", keptaside.MAX_AGE_DAYS + 1)
    os.chmod(outside, 0o755)
    keptaside.prune()
    assert os.listdir(area) == []
    assert (outside / "sub" / "precious").read_text() == "keep me" and mode(outside) == 0o755


def test_a_session_that_keeps_something_aside_prunes_at_its_end(home):
    from claude_docker.launcher.report import SyncReport

    kept_aside("quarantine", "ancient", days=keptaside.MAX_AGE_DAYS + 1)
    report = SyncReport()
    keptaside.after_sync(report)  # kept nothing aside: nothing looked at
    assert os.listdir(state_dir() / "quarantine") == ["ancient"]
    report.quarantined.append("settings.json: invalid JSON")
    keptaside.after_sync(report)
    assert os.listdir(state_dir() / "quarantine") == []


def test_doctor_lists_what_is_kept_aside_and_warns_of_copies_others_can_read(home, umask_022):
    kept_aside("quarantine", "s1", days=1)
    held("s2", 1, pending=True)
    check = keptaside.doctor_check()
    assert check.status == "warn" and "readable by others" in check.detail  # quarantine/ made by mkdir -p: 0755
    keptaside.prune()
    check = keptaside.doctor_check()
    assert check.status == "info", check
    assert "held/ 1 session(s)" in check.detail and "quarantine/ 1 session(s)" in check.detail
    assert "pruned after 30 days (90 for held changes not yet reviewed), 100 per folder" in check.detail
    out = subprocess.run([sys.executable, "-I", "-m", "claude_docker", "doctor", "--json"], capture_output=True,
                         check=False, text=True, env=os.environ, timeout=120)
    names = [c["name"] for c in json.loads(out.stdout)["checks"]]
    assert "kept aside" in names


def test_the_tools_damaged_state_is_kept_private_a_while_then_pruned(home, umask_022):
    from claude_docker import damage

    cursor = state_dir() / "cursor.json"
    cursor.parent.mkdir(parents=True, exist_ok=True)
    cursor.write_text("{not json")
    os.chmod(cursor, 0o644)
    moved = damage.set_aside(cursor, "not JSON", "the exporter resumes at the log's end")
    old = state_dir() / "damaged" / "ancient-session"
    old.mkdir()
    (old / "session.json").write_text("[]")
    aged(old, keptaside.MAX_AGE_DAYS + 1)
    keptaside.prune()
    assert moved is not None and os.listdir(state_dir() / "damaged") == [moved.name]  # a file is an entry
    assert mode(moved) == 0o600 and mode(state_dir() / "damaged") == 0o700
    aged(moved, keptaside.MAX_AGE_DAYS + 1)
    keptaside.prune()
    assert os.listdir(state_dir() / "damaged") == []


def test_a_loose_file_in_a_private_folder_is_made_private_as_doctor_says(home, umask_022):
    kept_aside("quarantine", "s1", days=1)
    folder = state_dir() / "quarantine" / "s1"
    os.chmod(state_dir() / "quarantine", 0o700)
    os.chmod(folder, 0o700)
    assert mode(folder / ".credentials.json") == 0o644
    assert keptaside.doctor_check().status == "warn"
    keptaside.prune()
    assert mode(folder / ".credentials.json") == 0o600 and keptaside.doctor_check().status == "info"
