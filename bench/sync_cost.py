"""Sync in + out of one session on a synthetic 1 GB `~/.claude` of 20,000 files, as the wrapper pays for it.

Two cases, each session in a fresh process that has already imported what a `claude` run has imported by
then (so the time counts what sync adds, its lazy imports included, plus its own work):
* typical (goal: ≤ 20 ms): Claude Code rewrote `.claude.json` and appended to the prompt history and its
  transcript, as it does on nearly every run; sync out takes the config lock and a pre-sync backup;
* no change (goal: ≤ 20 ms): the session changed nothing sync out has to write.
Next to them, what a full copy of that tree costs (what a naive sync would do).

`--base PYTHON` runs another checkout's interpreter (its package installed) interleaved with this one, for
before/after figures; each side has its own state dir (sessions, backup store), both share the ~/.claude.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import report

GOAL_MS = 20.0
FILES = 20_000
TOTAL_BYTES = 1 << 30
CASES = ("typical", "nochange")


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
    (home / "project" / ".claude").mkdir(parents=True)
    (home / "project" / ".claude" / "settings.json").write_text("{}")
    subprocess.run(["git", "init", "-q", str(home / "project")], check=True)


# --- in the child: one session, in a fresh process --------------------------------------------------------

def wrapper_imports():
    """What the wrapper process has imported and done by the time its session ends: the run module (which
    imports sync in and out), the start's config check, the session log's records, and what it prepares for
    sync out while the session runs."""
    import claude_docker.launcher.run  # noqa: F401
    from claude_docker.backup.triggers import at_start
    from claude_docker.launcher import syncout
    from claude_docker.obs.sessionlog import SessionLog
    from claude_docker.paths import ClaudeHome

    at_start(ClaudeHome.from_env())
    log = SessionLog()
    log.synced("in", log.step("sync_in"), tracked=1)
    if hasattr(syncout, "prepare"):  # (a --base checkout from before it did nothing while the session ran)
        syncout.prepare()
    return log


def session_changes(session, staging, home: Path) -> None:
    """What Claude Code does on nearly every run: rewrite `.claude.json` (the startup count, the project's
    cost), append a prompt to the history and lines to its transcript (on the host, through the mount)."""
    staged_json = session.path / staging.claude_json_key
    data = json.loads(staged_json.read_text())
    data["numStartups"] += 1
    data["projects"]["/home/u/project7"]["lastCost"] += 1
    tmp = staged_json.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, staged_json)
    with open(session.path / staging.config_key / "history.jsonl", "ab") as f:
        f.write(b'{"display":"a new prompt %d","project":"/home/u/p"}\n' % time.time_ns())
    with open(home / ".claude" / "projects" / "-home-u-project7" / "00000007-session.jsonl", "ab") as f:
        f.write(b'{"type":"user","message":"a new prompt %d"}\n' % time.time_ns())


def begin_session(case: str):
    """A session synced in and, for `typical`, changed as Claude Code changes it: (session, its manifest, the
    seconds sync in took)."""
    from claude_docker.launcher.exposure import mounted_common_dir
    from claude_docker.launcher.run import _guard_snapshots
    from claude_docker.launcher.staging import Staging, sync_in, sync_state
    from claude_docker.options import RunOptions
    from claude_docker.paths import ClaudeHome, home
    from claude_docker.sessiondir import SessionDir, new_session_id

    user_home, claude = home(), ClaudeHome.from_env()
    project = user_home / "project"
    start = time.perf_counter()
    session = SessionDir.create(new_session_id(), {"host": "bench", "wrapper_pid": os.getpid(), "wrapper_start": ""})
    staging = Staging(claude, user_home, session)
    synced = sync_in(staging, project)
    manifest = {"project": str(project), "cwd": str(project), **sync_state(staging, synced)}
    sync_in_s = time.perf_counter() - start
    # The project's guarded places, snapshotted before the container starts (not sync's cost, but what the
    # run has done and imported by the time sync out reviews them).
    manifest.update(_guard_snapshots(RunOptions.from_env(), project, mounted_common_dir(project, user_home, claude),
                                     session))
    if case == "typical":
        session_changes(session, staging, user_home)
    return session, manifest, sync_in_s


def child(case: str) -> None:
    wrapper_imports()
    from claude_docker.launcher.syncout import sync_out

    session, manifest, sync_in_s = begin_session(case)
    start, cpu = time.perf_counter(), time.process_time()
    report = sync_out(session, manifest)
    session.remove()
    sync_out_s, cpu = time.perf_counter() - start, time.process_time() - cpu
    if case == "typical" and (report.files < 2 or report.warnings):
        raise SystemExit(f"the typical session did not sync as expected: {report.files} file(s), {report.warnings}")
    print(json.dumps({"in": sync_in_s, "out": sync_out_s, "out_cpu": cpu}))


def full_backup() -> None:
    """The hourly full backup a user's store already holds (not timed)."""
    from claude_docker.backup.create import create
    from claude_docker.paths import ClaudeHome

    create(ClaudeHome.from_env(), "bench", "full")


# --- in the parent ---------------------------------------------------------------------------------------

def run_child(python: str, env: dict, mode: str) -> dict:
    out = subprocess.run([python, "-s", "-E", __file__, "--child", mode], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, check=True, text=True).stdout
    return json.loads(out) if mode in CASES else {}


def main() -> bool:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", help="the interpreter of a checkout to compare with (its package installed)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--child", choices=(*CASES, "full-backup"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "full-backup":
        full_backup()
        return True
    if args.child:
        child(args.child)
        return True
    sides = {"this": sys.executable, **({"base": args.base} if args.base else {})}
    with tempfile.TemporaryDirectory(prefix="claude-docker-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_")}
        base_env["HOME"] = str(home)
        envs = {side: dict(base_env, CLAUDE_DOCKER_STATE_DIR=str(Path(tmp) / f"state-{side}")) for side in sides}
        print(f"  (making a {TOTAL_BYTES >> 20} MiB ~/.claude of {FILES} files, and a full backup)", file=sys.stderr)
        make_claude_home(home)
        for side, python in sides.items():
            run_child(python, envs[side], "full-backup")
        samples: dict[tuple[str, str], list[dict]] = {(c, s): [] for c in CASES for s in sides}
        for rnd in range(args.rounds + 2):  # two rounds of warm-up
            for case in CASES:
                for side, python in sides.items():
                    result = run_child(python, envs[side], case)
                    if rnd >= 2:
                        samples[case, side].append(result)
        copy_target = Path(tmp) / "copy"
        start = time.perf_counter()
        shutil.copytree(home / ".claude", copy_target)
        copy = time.perf_counter() - start
    ok = True

    def ms(case: str, side: str, part: str) -> float:
        return statistics.median(r["in"] + r["out"] if part == "total" else r[part] for r in samples[case, side]) * 1000

    for case in CASES:
        total = ms(case, "this", "total")
        line = (f"{total:.1f} ms (in {ms(case, 'this', 'in'):.1f}, out {ms(case, 'this', 'out'):.1f}, its CPU "
                f"{ms(case, 'this', 'out_cpu'):.1f})")
        if "base" in sides:
            base = ms(case, "base", "total")
            line += (f"; base {base:.1f} ms (in {ms(case, 'base', 'in'):.1f}, out {ms(case, 'base', 'out'):.1f}, its "
                     f"CPU {ms(case, 'base', 'out_cpu'):.1f}): {total / base:.2f}x")
        if case == "typical":
            line += f"; full copy of the tree: {copy * 1000:.0f} ms"
        report(f"sync in + out, {case}", line, total <= GOAL_MS)
        ok &= total <= GOAL_MS
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
