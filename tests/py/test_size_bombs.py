"""Size bombs: files a session's container can write, made huge (sparse: no disk) or endless, never read whole.

A backup leaves them out and stays good (its manifest, `backup list` and `backup verify` say why); a session's
sync never waits behind a long backup or prune; every read of project or container-writable files is bounded
(measured as the peak RSS of a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from claude_docker.backup import retention
from claude_docker.backup.create import create
from claude_docker.backup.store import Store
from claude_docker.backup.triggers import before_sync
from claude_docker.paths import ClaudeHome


def cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-I", "-m", "claude_docker", *args], capture_output=True, text=True,
                          check=False, env=os.environ, timeout=timeout)


def sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)  # a hole: no disk used
    return path


def small_state(home: Path) -> Path:
    cfg = home / ".claude"
    (cfg / "projects" / "-work-app").mkdir(parents=True)
    (home / ".claude.json").write_text('{"numStartups": 3}')
    (cfg / "settings.json").write_text('{"model": "opus"}')
    (cfg / "projects" / "-work-app" / "a.jsonl").write_text('{"type":"user"}\n')
    return cfg


def test_a_backup_leaves_out_a_17_gib_sparse_file_and_a_sparse_one_and_stays_good(home):
    cfg = small_state(home)
    sparse(cfg / "projects" / "-work-app" / "bomb.jsonl", 17 << 30)
    sparse(cfg / "projects" / "-work-app" / "holes.jsonl", 100 << 20)
    started = time.monotonic()
    made = cli("backup", "create", "--json")
    assert made.returncode == 0, made.stderr
    assert time.monotonic() - started < 30  # it used to read 17 GiB of zeros under the store lock
    left = json.loads(made.stdout)["skipped"]
    assert any(line.startswith("config/projects/-work-app/bomb.jsonl: larger than 1024 MiB") for line in left), left
    assert any(line.startswith("config/projects/-work-app/holes.jsonl: a sparse file") for line in left), left

    verified = cli("backup", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("✓ ")  # good, not "fail verification"
    assert "left out: config/projects/-work-app/bomb.jsonl: larger than 1024 MiB" in verified.stdout
    listed = json.loads(cli("backup", "list", "--json").stdout)
    assert len(listed[0]["left_out"]) == 2
    found = cli("backup", "find-good")
    assert found.returncode == 0 and found.stdout.strip() == listed[0]["id"]


def test_an_oversized_config_file_is_left_out_not_a_failed_backup(home):
    small_state(home)
    sparse(home / ".claude" / "keybindings.json", 65 << 20)  # must parse: more than 64 MiB never does
    manifest = create(ClaudeHome.from_env(), "manual")
    assert any(line.startswith("config/keybindings.json: larger than 64 MiB") for line in manifest["skipped"])
    assert cli("backup", "verify").returncode == 0


_HOLD_STORE_LOCK = """
import sys, time
from pathlib import Path
from claude_docker.backup.store import Store
with Store(Path(sys.argv[1])).lock():
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_the_backup_before_a_sync_is_skipped_with_a_note_while_a_long_backup_holds_the_store(home, monkeypatch):
    small_state(home)
    store = Store()
    create(ClaudeHome.from_env(), "manual", store=store)
    monkeypatch.setenv("CLAUDE_DOCKER_BACKUP_INTERVAL", "3600")  # the automatic backups on
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_STORE_LOCK, str(store.root), "120"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        note = before_sync(ClaudeHome.from_env())
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    # It used to wait 60 s under the config lock, so that other sessions ending meanwhile failed with 122.
    assert waited < 10
    assert note and note.startswith("no backup before sync: another backup or prune has been using the backup "
                                    "store") and "the sync went on without one" in note


_TRY_STORE_LOCK = """
import sys
from pathlib import Path
from claude_docker.errors import ToolError
from claude_docker.locking import locked
try:
    with locked(Path(sys.argv[1]) / "lock", 0):
        print("free")
except ToolError:
    print("busy")
"""


def test_prune_verifies_backups_before_it_takes_the_store_lock(home, monkeypatch):
    small_state(home)
    store = Store()
    claude = ClaudeHome.from_env()
    for _ in range(3):
        create(claude, "manual", store=store)
    from claude_docker.backup import recovery

    seen = []
    real_verify = recovery.verify

    def verify_and_look(store_, manifest, progress=None):
        # Is the store free for a session's pre-sync backup while a whole backup is being read?
        out = subprocess.run([sys.executable, "-c", _TRY_STORE_LOCK, str(store.root)], capture_output=True, text=True,
                             check=False)
        seen.append(out.stdout.strip())
        return real_verify(store_, manifest, progress)

    monkeypatch.setattr(recovery, "verify", verify_and_look)
    result = retention.prune(store, retention.Policy(last=1, hourly=0, daily=0, weekly=0))
    assert seen and set(seen) == {"free"}, seen
    newest = store.snapshot_ids()[-1]
    assert "newest good" in result["kept"][newest] and len(result["removed"]) == 2


def peak_rss_mib(code: str) -> tuple[str, int]:
    """Run `code` in a fresh child (through a wrapper, so that no other child of this test process counts):
    its output and its peak resident memory in MiB."""
    wrapper = textwrap.dedent("""
        import resource, subprocess, sys
        out = subprocess.run([sys.executable, "-c", sys.argv[1]], capture_output=True, text=True)
        sys.stderr.write(out.stderr)
        print(out.stdout.strip())
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss >> 10)
    """)
    done = subprocess.run([sys.executable, "-c", wrapper, code], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    *out, rss = done.stdout.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    return "\n".join(out), int(rss)


def test_a_sparse_git_pointer_file_is_not_read_into_memory(tmp_path):
    project = tmp_path / "proj"
    sparse(project / ".git", 1 << 30)
    out, rss = peak_rss_mib(f"""
from pathlib import Path
from claude_docker.paths import git_common_dir, gitdir_pointer
print(gitdir_pointer(Path({str(project / '.git')!r})), git_common_dir(Path({str(project)!r})))
""")
    assert out == "None None"
    assert rss < 150, f"{rss} MiB"  # it read the whole file (and decoded it): 2 GiB for this one


def test_a_pointer_to_a_huge_worktree_gitdir_file_is_not_read_into_memory(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    sparse(tmp_path / "elsewhere" / "worktrees" / "x" / "gitdir", 1 << 30)
    (project / ".git").write_text(f"gitdir: {tmp_path / 'elsewhere' / 'worktrees' / 'x'}\n")
    out, rss = peak_rss_mib(f"""
from pathlib import Path
from claude_docker.paths import git_common_dir
print(git_common_dir(Path({str(project)!r})))
""")
    assert out == "None"
    assert rss < 150, f"{rss} MiB"


def test_huge_project_files_and_endless_transcript_lines_are_never_read_whole(home, tmp_path):
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    sparse(project / ".gitmodules", 1 << 30)
    sparse(project / ".claude" / "settings.json", 1 << 30)
    cfg = small_state(home)
    transcripts = cfg / "projects" / "-work-app"
    with open(transcripts / "a.jsonl", "ab") as f:
        f.write(b'{"type":"permission-mode","permissionMode":"bypassPermissions"}\n')
    sparse(transcripts / "b.jsonl", 1 << 30)  # no newline at all: one line of 1 GiB
    (home / ".claude" / "settings.json").unlink()
    sparse(home / ".claude" / "settings.json", 1 << 30)
    out, rss = peak_rss_mib(f"""
from pathlib import Path
from claude_docker.backup.configcheck import quick_check
from claude_docker.boundary import git, project, transcripts
from claude_docker.paths import ClaudeHome
print(git._submodule_worktrees(Path({str(project)!r})))
base = Path({str(tmp_path / 'base')!r})
record = project.snapshot(Path({str(project)!r}), base)
print(record["links"])
removed, busy = transcripts.review({str(transcripts)!r}, 0)
print(sorted((r.rel, len(r.lines)) for r in removed), busy)
print(quick_check(ClaudeHome.from_env()))
""")
    gitmodules, links, removed, problems = out.splitlines()
    assert gitmodules == "[]"
    assert links == "{'.claude/settings.json': '(larger than 1 MiB)'}"
    # The state line goes, as before; the endless line goes too (no line Claude Code wrote), kept only in part.
    assert removed == "[('a.jsonl', 64), ('b.jsonl', 1048576)] []", removed
    assert os.path.getsize(transcripts / "b.jsonl") == 0
    assert (transcripts / "a.jsonl").read_text() == '{"type":"user"}\n'
    assert problems == "['settings.json is larger than 64 MiB (no config file is)']"
    assert rss < 400, f"{rss} MiB"
