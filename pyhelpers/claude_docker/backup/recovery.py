"""Recovery: find_good_backup, verify_recovery, and disaster_recovery, the runbook behind `claude-dr`.

The runbook, each step an event under one trace:
  diagnose     which of Claude Code's config files are missing or don't parse, and which of the caller's
               containers are orphaned (their `claude` wrapper is gone: they would write over the restore)
  find_backup  the newest backup that verifies, saying why each newer one was skipped; if that one holds
               only the config files, also the newest good full one, for the rest of the state
  (the plan: the containers it would stop, the backup and files it would restore; then the one question)
  orphans      stop those containers
  restore      repair mode: bring back what is missing or broken, keep everything that is fine
  verify       JSON validity, the restored files against the manifest, and a smoke run of the image
and a summary with the measured recovery time (the time spent waiting for the user's answer excluded).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from claude_docker import exitcodes
from claude_docker.backup import scope
from claude_docker.backup.configcheck import config_files, json_problem, quick_check, read_config
from claude_docker.backup.restore import hash_file, restore
from claude_docker.backup.store import ChunkError, Store, in_parallel
from claude_docker.backup.verify import verify
from claude_docker.checks import Check
from claude_docker.errors import ToolError, describe

if TYPE_CHECKING:
    from collections.abc import Sequence

    from claude_docker.paths import ClaudeHome


def find_good_backup(store: Store, wanted_scope: str | None = None, progress=None,
                     skipped: list | None = None) -> tuple[dict | None, list[tuple[str, str]]]:
    """(the newest snapshot that verifies, [(id, why it was skipped)] for each newer one)."""
    skipped = [] if skipped is None else skipped
    for snapshot_id in reversed(store.snapshot_ids()):
        try:
            manifest = store.load(snapshot_id)
        except ChunkError as exc:
            skipped.append((snapshot_id, str(exc)))
            continue
        if wanted_scope and manifest.get("scope") != wanted_scope:
            continue
        if any(s == snapshot_id for s, _ in skipped):
            continue  # skipped already (a second search, for the other scope)
        problems = verify(store, manifest, progress)
        if not problems:
            return manifest, skipped
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        skipped.append((snapshot_id, problems[0] + more))
    return None, skipped


def verify_recovery(claude: ClaudeHome, manifests: Sequence[dict] = (), restored: dict | None = None,
                    image: str | None = None) -> list[Check]:
    """A pass/fail check per item: each config file Claude Code reads parses, the files of the backups are
    present, those just restored ({key: sha256}) match the backup byte for byte, and the image runs
    `claude --version`."""
    restored = restored or {}
    present = os.path.isdir(claude.config_dir)
    checks = [Check.of("config dir", present, str(claude.config_dir) + ("" if present else " is missing"))]
    checks += [_json_check(key, Path(path)) for key, path in config_files(claude)]
    if manifests:
        expected = {e["path"] for m in manifests for e in m["entries"] if e["type"] == "file"}
        missing = sorted(k for k in expected if not scope.host_path(claude, k).exists())
        keys = [k for k in restored if k not in missing]
        hashes = in_parallel(lambda k: hash_file(scope.host_path(claude, k)), keys)
        mismatched = sorted(k for k, digest in zip(keys, hashes) if digest != restored[k])
        bad = missing + mismatched
        names = " and ".join(m["id"] for m in manifests)
        detail = (f"{len(missing)} file(s) of backup {names} missing, {len(mismatched)} not as restored"
                  f" (first: {bad[0]})" if bad else
                  f"all {len(expected)} file(s) of backup {names} present, {len(restored)} restored byte for byte")
        checks.append(Check.of("manifest", not bad, detail))
    if image:
        from claude_docker.smoke import smoke_image

        ok, detail = smoke_image(image)
        checks.append(Check.of("image", ok, detail))
    return checks


def _json_check(key: str, path) -> Check:
    name = scope.file_name(key)
    try:
        data = read_config(path)
    except FileNotFoundError:
        return Check.of(name, False, f"{path} is missing")
    except OSError as exc:
        return Check.of(name, False, f"{path}: {exc.strerror}")
    problem = json_problem(key, data)
    return Check.of(name, problem is None, problem or "valid JSON")


class Recovery:
    """What a disaster recovery did, for its summary and its --json."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.to_stop: list[str] = []
        self.orphans: list[str] = []
        self.backups: list[str] = []
        self.skipped: list[tuple[str, str]] = []
        self.plan: list[tuple[str, str]] = []
        self.restored: list[tuple[str, str]] = []
        self.pre_restore: list[str] = []
        self.checks: list[Check] = []
        self.seconds = 0.0
        self.outcome = ""
        self.trace_id = ""

    def to_json(self) -> dict:
        return {"outcome": self.outcome, "seconds": round(self.seconds, 3), "trace_id": self.trace_id,
                "problems": self.problems, "orphans_to_stop": self.to_stop, "orphans_stopped": self.orphans,
                "backups": self.backups,
                "skipped": [{"snapshot": s, "why": w} for s, w in self.skipped],
                "restored": [{"path": p, "why": w} for p, w in (self.restored or self.plan)],
                "pre_restore_backups": self.pre_restore,
                "checks": [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks]}


def _own_sessions() -> tuple[object, list]:
    """(a Docker client, the caller's sessions); none (and no error) when Docker is not reachable."""
    from claude_docker import dockerclient, inventory

    try:
        client = dockerclient.connect(operation="disaster_recovery")
        return client, inventory.sessions(client)
    except ToolError:
        return None, []


def disaster_recovery(claude: ClaudeHome, confirm: Callable[[Recovery], bool], image: str | None = None,
                      store: Store | None = None, progress=None, say: Callable[[str], None] = lambda line: None,
                      stop_orphans: bool = True) -> Recovery:
    """The whole runbook. `confirm` is asked before anything changes (containers stopped, files restored),
    once the plan is known; `say` reports each step and the plan to a person."""
    from claude_docker.obs.catalog import observe
    from claude_docker.obs.oplog import OperationLog
    from claude_docker.orphans import remove_orphans

    store = store or Store()
    log = OperationLog("disaster_recovery")
    rec = Recovery()
    rec.trace_id = log.trace_id
    started = time.monotonic()
    waited = 0.0
    try:
        with log.step("diagnose") as found:
            rec.problems = quick_check(claude)
            if not os.path.isdir(claude.config_dir):
                rec.problems.insert(0, f"{claude.config_dir} is missing")
            found["problems"] = len(rec.problems)
            client, live = _own_sessions() if stop_orphans else (None, [])
            rec.to_stop = [a["container"] for a in remove_orphans(client, live, dry_run=True)]
            found["orphans"] = len(rec.to_stop)
        for p in rec.problems:
            say(f"broken: {p}")
        with log.step("find_backup") as found:
            if not store.exists():
                raise ToolError(f"no backups in {store.root}: nothing to recover from", exitcodes.NO_GOOD_BACKUP)
            chosen = []
            newest, _ = find_good_backup(store, progress=progress, skipped=rec.skipped)
            if newest is not None:
                chosen.append(newest)
                if newest["scope"] != "full":
                    full, _ = find_good_backup(store, "full", progress=progress, skipped=rec.skipped)
                    if full is not None:
                        chosen.append(full)
            rec.backups = [m["id"] for m in chosen]
            found["backups"] = ",".join(rec.backups)
            found["skipped"] = len(rec.skipped)
        for snapshot_id, why in rec.skipped:
            say(f"skipped backup {snapshot_id}: {why}")
        if not chosen:
            raise ToolError("no good backup to recover from", exitcodes.NO_GOOD_BACKUP)
        say("using backup " + " then ".join(rec.backups))
        planned: dict[str, str] = {}
        for manifest in chosen:
            for key, why in restore(manifest, claude, mode="repair", store=store, dry_run=True).written:
                planned.setdefault(key, why)
        rec.plan = list(planned.items())
        if not rec.plan and not rec.problems:
            rec.outcome = "nothing_to_do"
            rec.seconds = time.monotonic() - started
            log.finish("ok", "nothing to recover")
            return rec
        for name in rec.to_stop:
            say(f"will stop orphaned container {name} (its `claude` wrapper is gone; it would write over "
                "the restore)")
        asked = time.monotonic()
        if not confirm(rec):
            rec.outcome = "declined"
            log.finish("declined", "the user declined the recovery")
            return rec
        waited = time.monotonic() - asked
        if stop_orphans:
            with log.step("orphans") as found:
                # The listing the plan was made of, not a new one: only what the answer was about.
                rec.orphans = [a["container"] for a in remove_orphans(client, live, dry_run=False) if "error" not in a]
                found["stopped"] = len(rec.orphans)
            for name in rec.orphans:
                say(f"stopped orphaned container {name}")
        with log.step("restore") as found:
            restored: dict[str, str] = {}  # key: the sha256 it was restored with
            for manifest in chosen:
                result = restore(manifest, claude, mode="repair", store=store, progress=progress)
                hashes = {e["path"]: e.get("sha256") for e in manifest["entries"]}
                for key, why in result.written:
                    restored[key] = hashes[key]
                    rec.restored.append((key, why))
                if result.pre_restore:
                    rec.pre_restore.append(result.pre_restore)
                if result.held:
                    say(f"held {len(result.held)} transcript line set(s) a native resume would obey: "
                        f"claude-docker held show restore-{manifest['id']}")
            found["files"] = len(rec.restored)
        with log.step("verify") as found:
            rec.checks = verify_recovery(claude, chosen, restored, image)
            failed = [c for c in rec.checks if not c.ok]
            found["failed_checks"] = len(failed)
        rec.seconds = time.monotonic() - started - waited
        rec.outcome = "unverified" if failed else "recovered"
        observe("claude_docker_recoveries_total", 1, outcome=rec.outcome)
        observe("claude_docker_recovery_duration_seconds", rec.seconds)
        log.finish("error" if failed else "ok", f"recovered {len(rec.restored)} file(s) in {rec.seconds:.2f}s",
                   files=len(rec.restored), failed_checks=len(failed))
        return rec
    except (ToolError, OSError) as exc:  # (a RestoreError is a ToolError)
        rec.outcome = "failed"
        observe("claude_docker_recoveries_total", 1, outcome="failed")
        log.finish("error", exc.message if isinstance(exc, ToolError) else describe(exc))
        raise
