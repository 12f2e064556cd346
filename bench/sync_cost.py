"""Sync in + out of one session on a synthetic 1 GB `~/.claude` of 20,000 files (goal: ≤ 100 ms),
next to what a full copy of that tree costs (what a naive sync would do), measured in the same run."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import interleaved, report

GOAL_MS = 100.0
FILES = 20_000
TOTAL_BYTES = 1 << 30


def make_claude_home(home: Path) -> None:
    cfg = home / ".claude"
    per_file = TOTAL_BYTES // FILES
    block = (json.dumps({"type": "assistant", "message": {"content": "x" * 200}}) + "\n").encode()
    body = (block * (per_file // len(block) + 1))[:per_file]
    for i in range(FILES):
        d = cfg / "projects" / f"-home-u-project{i % 200}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i:08d}-session.jsonl").write_bytes(body)
    projects = {f"/home/u/project{i}": {"hasTrustDialogAccepted": True, "allowedTools": [], "lastCost": 0.1 * i}
                for i in range(200)}
    (home / ".claude.json").write_text(json.dumps({"numStartups": 40, "projects": projects, "userID": "u"}, indent=2))
    (cfg / "settings.json").write_text(json.dumps({"theme": "dark", "permissions": {"allow": ["Bash(ls)"]}}))
    (cfg / ".credentials.json").write_text(json.dumps({"claudeAiOauth": {"accessToken": "a", "refreshToken": "r",
                                                                         "expiresAt": 1}}))
    (cfg / "history.jsonl").write_bytes(b'{"display":"an earlier prompt","project":"/home/u/p"}\n' * 20_000)
    (cfg / "CLAUDE.md").write_text("Be concise.\n")
    for d in ("plugins", "skills", "agents", "commands", "file-history", "todos"):
        (cfg / d).mkdir(exist_ok=True)


def one_session(home: Path) -> float:
    """Sync in, change what a typical session changes, sync out; returns the sync time (not the changes)."""
    from claude_docker.launcher.staging import Staging, sync_in, sync_state
    from claude_docker.launcher.syncout import sync_out
    from claude_docker.paths import ClaudeHome
    from claude_docker.sessiondir import SessionDir, new_session_id

    start = time.perf_counter()
    session = SessionDir.create(new_session_id(), {"host": "bench", "wrapper_pid": os.getpid(), "wrapper_start": ""})
    staging = Staging(ClaudeHome.from_env(), home, session)
    synced = sync_in(staging, home / "project")
    manifest = sync_state(staging, synced)
    synced_in = time.perf_counter()
    staged_json = session.path / staging.claude_json_key
    data = json.loads(staged_json.read_text())
    data["numStartups"] += 1
    data["projects"]["/home/u/project7"]["lastCost"] += 1
    tmp = staged_json.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, staged_json)
    with open(session.path / staging.config_key / "history.jsonl", "ab") as f:
        f.write(b'{"display":"a new prompt","project":"/home/u/p"}\n')
    # The session's own transcript grows (on the host, through the mount): sync out checks it.
    with open(home / ".claude" / "projects" / "-home-u-project7" / "00000007-session.jsonl", "ab") as f:
        f.write(b'{"type":"user","message":"a new prompt"}\n')
    out_start = time.perf_counter()
    sync_out(session, manifest)
    session.remove()
    return (synced_in - start) + (time.perf_counter() - out_start)


def main(rounds: int = 20) -> bool:
    with tempfile.TemporaryDirectory(prefix="claude-docker-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["HOME"] = str(home)
        os.environ.pop("CLAUDE_CONFIG_DIR", None)
        os.environ.pop("CLAUDE_DOCKER_STATE_DIR", None)
        print(f"  (making a {TOTAL_BYTES >> 20} MiB ~/.claude of {FILES} files)", file=sys.stderr)
        make_claude_home(home)
        copy_target = Path(tmp) / "copy"

        def full_copy() -> float:
            start = time.perf_counter()
            shutil.copytree(home / ".claude", copy_target)
            elapsed = time.perf_counter() - start
            shutil.rmtree(copy_target)
            return elapsed

        medians = interleaved({"sync": lambda: one_session(home)}, rounds)
        copy = interleaved({"copy": full_copy}, 1, warmup=0)["copy"]
    ms = medians["sync"] * 1000
    report("sync in + out, 1 GB ~/.claude", f"{ms:.1f} ms per session (full copy of the tree: {copy * 1000:.0f} ms, "
           f"{copy / medians['sync']:.0f}x slower)", ms <= GOAL_MS)
    return ms <= GOAL_MS


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
