"""Sync out: the session's changes back to the host, under the config lock, as the policy allows.

Each changed staged file is applied (apply.py) and marked so in the manifest at once; then what the session
wrote straight to the host through its mounts is reviewed (transcripts, git, the project's guarded places).
"""

from __future__ import annotations

from pathlib import Path

from claude_docker import exitcodes
from claude_docker.boundary import policy, transcripts
from claude_docker.errors import ToolError
from claude_docker.fsio import is_transient
from claude_docker.launcher.apply import Applier
from claude_docker.launcher.report import SyncReport
from claude_docker.launcher.stagedtree import Invalid, StagedTree
from claude_docker.launcher.staging import host_claude, kind_of

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.sessiondir import SessionDir


def pending_changes(tree: StagedTree, manifest: dict) -> list[dict]:
    """Tracked files not yet applied whose staged copy changed, plus top-level entries the session created."""
    changed = [r for r in manifest["tracked"]
               if not r.get("applied") and tree.signature(r["key"]) != r["staged_stat"]]
    known = {r["key"] for r in manifest["tracked"]}
    config_key = manifest["config_key"]
    host_config = Path(manifest["host_config"])
    for name, is_dir in tree.entries(config_key):
        key = f"{config_key}/{name}"
        if key in known or name in manifest["mounted"] or is_transient(name):
            continue
        if is_dir and policy.dir_mode(name) == policy.LOCAL:
            continue
        changed.append({"key": key, "host": str(host_config / name), "kind": "dir" if is_dir else kind_of(name),
                        "base_size": None, "staged_stat": None})
    return changed


def review_shared(session: SessionDir, manifest: dict, report: SyncReport, held) -> None:
    """What the session wrote straight to the host, through its bind mounts: transcripts, git, and the
    project's self-running places. Done once per session (marked in the manifest), also after a crash, by
    cleanup. Each stage on its own: one that fails is said, never stops the others, and is tried again."""
    if manifest.get("reviewed"):
        return
    from claude_docker.boundary import git, project

    since = int(manifest.get("sync_since_ns", 0))
    # Only the session's own folder was writable; a manifest of an older version had all of projects/.
    folder = "projects/" + manifest["transcripts"] if manifest.get("transcripts") else "projects"
    guard = manifest.get("project_guard")
    stages = [("transcripts", lambda: transcripts.hold_state_lines(Path(manifest["host_config"]), folder, since,
                                                                   held))]
    if manifest.get("git_guard"):
        stages.append(("git", lambda: (git.review(manifest["git_guard"], Path(manifest["project"]), held), [])))
    if guard:
        ctx = policy.Context(projects=(guard["root"],), relaxed=policy.relaxed())
        stages.append(("the project", lambda: (project.review(guard, session.path / "project-base", held, ctx), [])))
    done = True
    for name, stage in stages:
        try:
            items, busy = stage()
        except OSError as exc:
            report.warnings.append(f"the review of {name} failed ({exc.strerror or exc}); `claude-docker cleanup` "
                                   "tries it again")
            done = False
            continue
        report.warnings += [f"{rel} changed while it was checked; `claude-docker cleanup` checks it again"
                            for rel in busy]
        done = done and not busy
        for item in items:
            report.note_held(item["label"], policy.Verdict(item["verdict"], item["reason"]))
    held.save()
    manifest["reviewed"] = done
    session.write_manifest(manifest)


def prepare() -> None:
    """Import what sync out needs, while the session runs and its wrapper only waits: about half of a typical
    sync out was these imports (the lock, the pre-sync backup's codec and hashing, the reviews' git), and at
    the session's end the user waits for all of it. Only a head start: whatever fails here (a broken install)
    is left for sync out, which reports it; the wrapper must never die with Claude Code running."""
    try:
        import subprocess  # noqa: F401 - boundary/git runs git

        from claude_docker import locking  # noqa: F401
        from claude_docker.backup.triggers import interval
        from claude_docker.boundary import git, held, project  # noqa: F401

        if interval():
            import hashlib  # noqa: F401

            import zstandard  # noqa: F401

            from claude_docker.backup import create  # noqa: F401
    except Exception:  # noqa: BLE001 - see above
        return


def sync_out(session: SessionDir, manifest: dict) -> SyncReport:
    """Apply the session's changes to the host. Raises ToolError(SYNC_FAILED) if the host can't be written.

    Each file applied is marked so in the manifest at once, so a retry after a crash or a failure (by
    `cleanup`) applies only what is left and never re-applies an older value over a newer one."""
    from claude_docker.boundary.held import HeldRecord

    report = SyncReport()
    held = HeldRecord(session.session_id, manifest.get("project", ""))
    try:
        with StagedTree(session) as tree:
            try:
                changes = pending_changes(tree, manifest)
            except Invalid as exc:
                report.quarantined.append(f"{exc}: nothing from this session was applied")
                changes = []
            if changes:
                from claude_docker.backup.triggers import before_sync
                from claude_docker.locking import config_lock

                syncer = Applier(session, report, tree, manifest, held)
                with config_lock(Path(manifest["host_config"]), code=exitcodes.SYNC_FAILED):
                    warning = before_sync(host_claude(manifest))
                    if warning:
                        report.warnings.append(warning)
                    for rec in changes:
                        try:
                            syncer.apply(rec)
                        except Invalid as exc:
                            syncer.quarantine(Path(rec["host"]).name, str(exc))
                        rec["applied"] = True
                        if rec not in manifest["tracked"]:
                            manifest["tracked"].append(rec)
                        held.save()  # what this file held is on record before it counts as applied
                        session.write_manifest(manifest)
        review_shared(session, manifest, report, held)
    except OSError as exc:
        from claude_docker.errors import describe

        raise ToolError(f"cannot sync the config back: {describe(exc)}", exitcodes.SYNC_FAILED) from None
    report.held_in = held.dir if held.items else None
    return report
