"""Backups: what they hold, what an incremental one stores, verification, hostile backups, restore
policies, retention and encryption. Real files, the real CLI, the real `age` tools."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claude_docker.backup import retention
from claude_docker.backup.create import create
from claude_docker.backup.restore import restore
from claude_docker.backup.store import Store, new_snapshot_id
from claude_docker.paths import ClaudeHome
from synthstate import append_turns, make_state


def cli(*args, env=None, stdin=None):
    return subprocess.run([sys.executable, "-I", "-m", "claude_docker", *args], capture_output=True, text=True,
                          env=env or os.environ, input=stdin, timeout=300)


def tree(root: Path) -> dict:
    """Every file, dir and link under root: content hash and mode, link target."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode & 0o777)
    return out


@pytest.fixture
def state(home):
    transcripts = make_state(home, 4 << 20, 40)
    cfg = home / ".claude"
    (cfg / "skills" / "mine").mkdir(parents=True)
    (cfg / "skills" / "mine" / "SKILL.md").write_text("# a skill\n")
    os.symlink("SKILL.md", cfg / "skills" / "mine" / "README.md")
    os.symlink("/etc/passwd", cfg / "skills" / "outside")
    (cfg / "sessions").mkdir()
    (cfg / "sessions" / "123.json").write_text("{}")
    return transcripts


def test_a_restore_brings_back_every_byte_mode_and_link(home, state):
    manifest = create(ClaudeHome.from_env(), "manual")
    assert "config/skills/outside: a link that may point outside the config dir (/etc/passwd)" in manifest["skipped"]
    before = tree(home / ".claude")
    before_json = (home / ".claude.json").read_bytes()
    shutil.rmtree(home / ".claude")
    (home / ".claude.json").unlink()
    result = restore(manifest, ClaudeHome.from_env())
    assert result.pre_restore  # the (nearly empty) state before was backed up first
    after = tree(home / ".claude")
    del after[".claude-docker-sync.lock"]  # the config lock, beside the config it guards
    del before["skills/outside"], before["sessions"], before["sessions/123.json"]  # left out, by design
    assert after == before
    assert (home / ".claude.json").read_bytes() == before_json
    assert after[".credentials.json"][2] == 0o600


def test_an_incremental_backup_reads_only_changed_files_and_stores_only_appended_tails(home, state):
    claude = ClaudeHome.from_env()
    first = create(claude, "manual")
    assert first["stats"]["files_read"] == first["stats"]["files"]
    unchanged = create(claude, "manual")
    assert unchanged["stats"]["files_read"] == 0 and unchanged["stats"]["added_bytes"] == 0
    grown = append_turns(state, 0.1, 20_000)
    second = create(claude, "manual")
    assert second["stats"]["files_read"] == len(grown)
    tail_bytes = 20_000 * len(grown)
    assert 0 < second["stats"]["added_bytes"] < tail_bytes  # the tails, compressed; not the whole files again
    entry = {e["path"]: e for e in second["entries"]}[f"config/{grown[0].relative_to(home / '.claude')}"]
    old = {e["path"]: e for e in first["entries"]}[entry["path"]]
    assert entry["chunks"][: len(old["chunks"])] == old["chunks"]
    shutil.rmtree(home / ".claude" / "projects")
    restore(second, claude)
    data = grown[0].read_bytes()
    assert data.endswith(b"}\n") and hashlib.sha256(data).hexdigest() == entry["sha256"]


def test_the_store_is_private(home, state):
    create(ClaudeHome.from_env(), "manual")
    store = home / ".claude-docker" / "backups"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    for dirpath, dirs, files in os.walk(store):
        for d in dirs:
            assert stat.S_IMODE((Path(dirpath) / d).stat().st_mode) == 0o700, d
        for f in files:
            assert stat.S_IMODE((Path(dirpath) / f).stat().st_mode) == 0o600, f


def _corrupt_newest_only_chunk(home: Path, newest: dict, older: dict) -> None:
    old_chunks = {c[0] for e in older["entries"] if e["type"] == "file" for c in e["chunks"]}
    ours = [c[0] for e in newest["entries"] if e["type"] == "file" for c in e["chunks"] if c[0] not in old_chunks]
    path = home / ".claude-docker" / "backups" / "chunks" / ours[0][:2] / ours[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_verify_finds_a_damaged_chunk_and_find_good_explains_the_skip(home, state):
    claude = ClaudeHome.from_env()
    older = create(claude, "manual")
    append_turns(state, 0.2, 5000)
    newest = create(claude, "manual")
    assert cli("backup", "verify").returncode == 0
    _corrupt_newest_only_chunk(home, newest, older)
    result = cli("backup", "verify")
    assert result.returncode == 1
    assert f"✗ {newest['id']}: config/projects/" in result.stdout and f"✓ {older['id']}" in result.stdout
    found = cli("backup", "find-good")
    assert found.returncode == 0 and found.stdout.strip() == older["id"]
    assert f"skipped backup {newest['id']}: config/projects/" in found.stderr
    assert "damaged" in found.stderr or "does not match" in found.stderr


def _hostile(home: Path, entries: list) -> str:
    """Commit a hand-made snapshot into the store, as an attacker with write access to it could."""
    store = Store()
    create(ClaudeHome.from_env(), "manual", store=store)  # makes the store, and a chunk to point at
    sid = new_snapshot_id()
    store.commit({"format": 1, "id": sid, "scope": "full", "reason": "manual", "entries": entries, "skipped": [],
                  "stats": {"files": 1, "bytes": 1, "added_bytes": 0, "files_read": 0, "new_chunks": 0,
                            "seconds": 0}})
    return sid


def _chunk_of(data: bytes) -> list:
    store = Store()
    chunk_id = store.chunk_id(data)
    store.put_chunk(chunk_id, data)
    return [chunk_id, len(data)]


@pytest.mark.parametrize("case", ["dotdot", "absolute", "link_out", "link_climbs", "below_link", "twice", "huge",
                                  "chunk_lies"])
def test_hostile_backups_are_refused_and_nothing_is_written(home, tmp_path, case):
    (home / ".claude").mkdir()
    (home / ".claude.json").write_text('{"a": 1}')
    Store().init()
    data = b"owned\n"
    good = {"type": "file", "mode": 0o644, "size": len(data), "mtime_ns": 0, "ino": 0,
            "sha256": hashlib.sha256(data).hexdigest(), "chunks": [_chunk_of(data)]}
    entries = {
        "dotdot": [dict(good, path="config/../../escaped")],
        "absolute": [dict(good, path=str(tmp_path / "escaped"))],
        "link_out": [{"path": "config/evil", "type": "link", "target": "../../../../etc"}],
        # Text that stays inside, but `up` is itself a link: on disk it would climb out of the config dir.
        "link_climbs": [{"path": "config/sub/up", "type": "link", "target": "x"},
                        {"path": "config/evil", "type": "link", "target": "sub/up/../.."}],
        "twice": [dict(good, path="claude.json"), dict(good, path="config/.claude.json")],
        "below_link": [{"path": "config/lnk", "type": "link", "target": "."}, dict(good, path="config/lnk/x")],
        "huge": [dict(good, path="config/big", size=1 << 50, chunks=[[good["chunks"][0][0], 1 << 20]] * 4)],
        "chunk_lies": [dict(good, path="config/x", size=len(data) + 1, chunks=[[good["chunks"][0][0], len(data) + 1]])],
    }[case]
    sid = _hostile(home, entries)
    result = cli("backup", "restore", sid)
    assert result.returncode == 1, result
    assert result.stderr.count("\n") == 1 and "claude-docker: " in result.stderr
    assert not (tmp_path / "escaped").exists() and not (home / "escaped").exists()
    assert not (home / ".claude" / "evil").exists() and not (home / ".claude" / "big").exists()
    found = cli("backup", "find-good")
    assert f"skipped backup {sid}: " in found.stderr and found.stdout.strip() != sid


def test_restore_keeps_grown_logs_and_newer_credentials_unless_forced(home, state):
    claude = ClaudeHome.from_env()
    manifest = create(claude, "manual")
    creds = home / ".claude" / ".credentials.json"
    newer = json.dumps({"claudeAiOauth": {"refreshToken": "rotated", "expiresAt": 1_900_000_000_000}})
    creds.write_text(newer)
    history = home / ".claude" / "history.jsonl"
    with open(history, "ab") as f:
        f.write(b'{"display":"a prompt after the backup"}\n')
    settings = home / ".claude" / "settings.json"
    settings.write_text('{"theme": "light"}')
    result = cli("backup", "restore", manifest["id"])
    assert result.returncode == 0, result.stderr
    assert "kept config/.credentials.json: newer OAuth credentials" in result.stdout
    assert "kept config/history.jsonl: grew since the backup" in result.stdout
    assert creds.read_text() == newer and history.read_bytes().endswith(b"after the backup\"}\n")
    assert json.loads(settings.read_text()) == {"theme": "dark", "permissions": {"allow": ["Bash(ls)"]}}
    forced = cli("backup", "restore", manifest["id"], "--force-credentials")
    assert forced.returncode == 0 and json.loads(creds.read_text())["claudeAiOauth"]["refreshToken"] == "r"


def test_a_restore_can_be_undone_with_the_backup_it_took_first(home, state):
    claude = ClaudeHome.from_env()
    manifest = create(claude, "manual")
    (home / ".claude" / "settings.json").write_text('{"theme": "mine, since the backup"}')
    result = restore(manifest, claude)
    assert result.pre_restore and json.loads((home / ".claude" / "settings.json").read_text())["theme"] == "dark"
    undo = cli("backup", "restore", result.pre_restore)
    assert undo.returncode == 0, undo.stderr
    assert json.loads((home / ".claude" / "settings.json").read_text())["theme"] == "mine, since the backup"


def test_a_dry_run_changes_nothing(home, state):
    manifest = create(ClaudeHome.from_env(), "manual")
    shutil.rmtree(home / ".claude")
    result = cli("backup", "restore", manifest["id"], "--dry-run")
    assert result.returncode == 0 and "would restore config/settings.json (missing)" in result.stdout
    assert not (home / ".claude").exists()


def test_retention_rules_follow_restic(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        _retention_rules()
    finally:
        monkeypatch.undo()
        time.tzset()


def _retention_rules():
    base = 1_700_000_000 - 1_700_000_000 % 86400  # a midnight
    snaps = [(f"s{i}", base + i * 1800) for i in range(96)]  # every 30 minutes for two days
    kept = retention.kept(snaps, retention.Policy(last=2, hourly=3, daily=2, weekly=0))
    assert sorted(kept, key=lambda s: -int(s[1:])) == ["s95", "s94", "s93", "s91", "s47"]
    assert kept["s95"] == ["last", "hourly", "daily"] and kept["s47"] == ["daily"]
    with pytest.raises(Exception, match="empty retention policy"):
        retention.kept(snaps, retention.Policy(0, 0, 0, 0))


def test_prune_frees_unreferenced_chunks_and_always_keeps_the_newest_good(home, state):
    claude = ClaudeHome.from_env()
    settings = home / ".claude" / "settings.json"
    settings.write_text('{"theme": "only the first backup has this"}')
    first = create(claude, "manual")
    settings.write_text('{"theme": "dark"}')
    for i in range(3):
        append_turns(state, 0.3, 3000, seed=10 + i)
        create(claude, "manual")
    newest = create(claude, "manual")
    append_turns(state, 0.3, 3000, seed=99)
    broken = create(claude, "manual")
    _corrupt_newest_only_chunk(home, broken, newest)
    result = cli("backup", "prune", "--keep-last", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["kept"] == {broken["id"]: ["last", "newest good"]} or report["kept"] == {
        broken["id"]: ["last"], newest["id"]: ["newest good"]}
    assert first["id"] in report["removed"] and report["freed_chunks"] > 0
    assert cli("backup", "verify", newest["id"]).returncode == 0
    assert cli("backup", "restore", newest["id"], "--dry-run").returncode == 0


def test_an_encrypted_store_needs_the_identity_to_read_and_the_age_cli_agrees(home, state, tmp_path):
    key = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True).stdout
    (tmp_path / "recipients").write_text(recipient)
    env = dict(os.environ, CLAUDE_DOCKER_BACKUP_AGE_RECIPIENTS=str(tmp_path / "recipients"))
    made = cli("backup", "create", "--json", env=env)
    assert made.returncode == 0, made.stderr
    store = home / ".claude-docker" / "backups"
    chunk = next(p for p in (store / "chunks").rglob("*") if p.is_file())
    assert b"hasTrustDialogAccepted" not in b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())
    plain = subprocess.run(["age", "-d", "-i", str(key), str(chunk)], capture_output=True, check=True).stdout
    import zstandard

    assert zstandard.ZstdDecompressor().decompress(plain)  # an age file holding a zstd frame
    assert chunk.name != hashlib.sha256(zstandard.ZstdDecompressor().decompress(plain)).hexdigest()  # keyed names
    no_key = cli("backup", "verify")
    assert no_key.returncode == 2 and "CLAUDE_DOCKER_BACKUP_AGE_IDENTITY" in no_key.stderr
    assert no_key.stderr.count("\n") == 1
    # Later backups need no identity either: they compare with a local copy of the last one.
    (home / ".claude" / "settings.json").write_text('{"theme": "changed"}')
    for args in (["--scope", "config"], []):
        later = cli("backup", "create", "--json", *args, env=env)
        assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout)["files_read"] == 1  # the full one, against the first full one
    with_key = dict(os.environ, CLAUDE_DOCKER_BACKUP_AGE_IDENTITY=str(key))
    assert cli("backup", "verify", env=with_key).returncode == 0
    shutil.rmtree(home / ".claude")
    assert cli("backup", "restore", env=with_key).returncode == 0
    assert json.loads((home / ".claude" / "settings.json").read_text())["theme"] == "changed"


def test_bad_input_is_one_line_with_a_documented_status(home):
    assert cli("backup", "list").stdout == "no backups yet (`claude-docker backup create` takes one)\n"
    none = cli("dr", "--yes", "--no-smoke")
    assert none.returncode == 4 and none.stderr.strip().endswith("nothing to recover from")
    (home / ".claude").mkdir()
    assert cli("backup", "create", "--quiet").returncode == 0
    unknown = cli("backup", "restore", "nope")
    assert unknown.returncode == 2 and unknown.stderr == "claude-docker: no backup 'nope'\n"
    bad = cli("backup", "prune", "--keep-last", "-1")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_a_long_backup_shows_progress_on_a_terminal_and_nothing_otherwise(home):
    import pty

    make_state(home, 40 << 20, 200)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-I", "-m", "claude_docker", "backup", "create", "--quiet"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closed: the backup is done
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert proc.wait(timeout=120) == 0
    assert b"\rbacking up [" in seen and b"% " in seen and b"MiB" in seen
    assert seen.endswith(b"\r\x1b[K")  # the bar is cleared when done
    shutil.rmtree(home / ".claude" / "projects")
    piped = cli("backup", "restore")
    assert piped.returncode == 0 and "[" not in piped.stderr  # not a terminal: no bar


def test_a_store_file_that_is_not_a_regular_file_skips_to_an_older_backup(home, state):
    claude = ClaudeHome.from_env()
    older = create(claude, "manual")
    append_turns(state, 0.2, 5000)
    newest = create(claude, "manual")
    old_chunks = {c[0] for e in older["entries"] if e["type"] == "file" for c in e["chunks"]}
    ours = next(c[0] for e in newest["entries"] if e["type"] == "file" for c in e["chunks"] if c[0] not in old_chunks)
    path = home / ".claude-docker" / "backups" / "chunks" / ours[:2] / ours
    path.unlink()
    os.mkfifo(path)  # would block a plain open() forever
    found = cli("backup", "find-good")
    assert found.returncode == 0 and found.stdout.strip() == older["id"]
    assert "is not a regular file" in found.stderr


def test_prune_never_forgets_a_backup_it_cannot_read(home, state):
    claude = ClaudeHome.from_env()
    first = create(claude, "manual")
    for i in range(3):
        append_turns(state, 0.1, 2000, seed=20 + i)
        create(claude, "manual")
    (home / ".claude-docker" / "backups" / "snapshots" / f"{first['id']}.json").write_bytes(b"garbage")
    result = cli("backup", "prune", "--keep-last", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["kept"][first["id"]] == ["unreadable"] and first["id"] not in report["removed"]
    assert report["freed_chunks"] == 0  # its chunks are unknown: none is deleted


def test_a_store_whose_encryption_was_switched_off_is_refused(home, state, tmp_path):
    subprocess.run(["age-keygen", "-o", str(tmp_path / "key")], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(tmp_path / "key")], check=True, capture_output=True,
                               text=True).stdout
    (tmp_path / "recipients").write_text(recipient)
    env = dict(os.environ, CLAUDE_DOCKER_BACKUP_AGE_RECIPIENTS=str(tmp_path / "recipients"))
    assert cli("backup", "create", "--quiet", env=env).returncode == 0
    meta_path = home / ".claude-docker" / "backups" / "store.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(dict(meta, encryption=None)))  # someone with write access to the store
    result = cli("backup", "create")
    assert result.returncode == 1 and "encryption settings" in result.stderr and result.stderr.count("\n") == 1
    stored = [p.read_bytes() for p in (home / ".claude-docker" / "backups").rglob("*") if p.is_file()]
    assert all(b"hasTrustDialogAccepted" not in data for data in stored)  # nothing went in in plain


def test_list_shows_each_backup_and_restore_repair_brings_back_only_what_is_broken(home, state):
    claude = ClaudeHome.from_env()
    full = create(claude, "manual")
    config = create(claude, "pre-sync", "config")
    lines = cli("backup", "list").stdout.splitlines()
    assert lines[0].split() == ["ID", "SCOPE", "REASON", "FILES", "SIZE", "ADDED", "LEFT", "OUT"]
    assert lines[1].split()[:3] == [full["id"], "full", "manual"]
    assert lines[2].split()[:3] == [config["id"], "config", "pre-sync"]
    (home / ".claude" / "settings.json").write_text('{"theme": "mine, and fine"}')
    (home / ".claude.json").write_text("{")
    result = cli("backup", "restore", full["id"], "--repair")
    assert result.returncode == 0, result.stderr
    assert "restored claude.json (.claude.json is not valid JSON" in result.stdout
    assert "kept config/settings.json: present and sound" in result.stdout
    assert json.loads((home / ".claude" / "settings.json").read_text())["theme"] == "mine, and fine"
