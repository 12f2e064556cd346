"""`claude-docker backup`: create, list, verify, prune, restore, find-good, verify-recovery."""

from __future__ import annotations

import sys

import click

from claude_docker import exitcodes

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def _claude():
    from claude_docker.paths import ClaudeHome

    return ClaudeHome.from_env()


def _store():
    from claude_docker.backup.store import Store

    return Store()


def _progress(label: str):
    from claude_docker.ui import Progress

    return Progress(label)


def _say(line: str) -> None:
    print(line, file=sys.stderr)


LEFT_OUT_SHOWN = 5  # per backup, by `verify`; `list --json` has them all


def _left_out(manifest: dict) -> list[str]:
    """What a backup did not take, and why (links out of the config dir, sockets, oversized or sparse files)."""
    found = manifest.get("skipped")
    return [str(line) for line in found] if isinstance(found, list) else []


def _load(store, snapshot_id: str | None) -> dict:
    """A snapshot by id (or a unique prefix of one), else the newest good one."""
    from claude_docker.backup.recovery import find_good_backup
    from claude_docker.backup.store import ChunkError
    from claude_docker.errors import ToolError

    store.meta()
    if snapshot_id is None:
        good, skipped = find_good_backup(store, progress=_progress("verifying"))
        for sid, why in skipped:
            _say(f"skipped backup {sid}: {why}")
        if good is None:
            raise ToolError("no good backup to restore", exitcodes.NO_GOOD_BACKUP)
        return good
    matches = [s for s in store.snapshot_ids() if s.startswith(snapshot_id)]
    if len(matches) != 1:
        raise ToolError(f"no backup {snapshot_id!r}" if not matches else
                        f"{snapshot_id!r} names {len(matches)} backups: give more of the id", exitcodes.USAGE)
    try:
        return store.load(matches[0])
    except ChunkError as exc:
        raise ToolError(f"backup {matches[0]}: {exc}", exitcodes.FAILURE) from None


@click.group()
def cli() -> None:
    """Verified, deduplicated backups of Claude Code's state (~/.claude.json and ~/.claude, or
    $CLAUDE_CONFIG_DIR), kept in CLAUDE_DOCKER_BACKUP_DIR (default ~/.claude-docker/backups)."""


@cli.command()
@click.option("--scope", "backup_scope", type=click.Choice(["full", "config"]), default="full", show_default=True,
              help="full: everything, transcripts included; config: the top-level config files only.")
@click.option("--reason", default="manual", show_default=True, help="Recorded in the backup (hourly, pre-sync, ...).")
@click.option("--prune", "then_prune", is_flag=True, help="Then prune with the default retention policy.")
@click.option("--quiet", is_flag=True, help="Print nothing on success.")
@JSON_OPTION
def create(backup_scope: str, reason: str, then_prune: bool, quiet: bool, as_json: bool) -> int:
    """Back up Claude Code's state now. Only what changed since the last backup is stored."""
    from contextlib import ExitStack

    from claude_docker import ui
    from claude_docker.backup import retention, triggers
    from claude_docker.backup.create import create as create_backup

    # The automatic one (triggers.spawn_full_backup) runs alone: one started while another runs has nothing to do.
    slot = triggers.automatic_slot() if reason == triggers.AUTOMATIC_REASON else ExitStack()
    if slot is None:
        return exitcodes.OK
    with slot:
        store = _store()
        manifest = create_backup(_claude(), reason, backup_scope, store, progress=_progress("backing up"))
        # An encrypted store is pruned by hand, with the identity: backups alone never need it.
        pruned = retention.prune(store, retention.DEFAULT) if then_prune and store.codec.can_read else None
    stats = manifest["stats"]
    if as_json:
        ui.print_json({"id": manifest["id"], "scope": backup_scope, "skipped": manifest["skipped"], **stats,
                       **({"pruned": pruned["removed"]} if pruned else {})})
    elif not quiet:
        print(f"backup {manifest['id']} ({backup_scope}): {stats['files']} files, {_size(stats['bytes'])}; "
              f"read {stats['files_read']} changed, added {_size(stats['added_bytes'])} in {stats['seconds']:.2f}s")
        for line in manifest["skipped"]:
            _say(f"left out: {line}")
    return exitcodes.OK


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


@cli.command("list")
@JSON_OPTION
def list_(as_json: bool) -> int:
    """The backups, oldest first (without reading their data: `verify` does that)."""
    from claude_docker import ui
    from claude_docker.backup.store import ChunkError

    store = _store()
    rows = []
    if store.exists():
        store.meta()
        for snapshot_id in store.snapshot_ids():
            try:
                m = store.load(snapshot_id)
                rows.append({"id": snapshot_id, "scope": m.get("scope"), "reason": m.get("reason"),
                             "host": m.get("host"), "files": m["stats"]["files"], "bytes": m["stats"]["bytes"],
                             "added_bytes": m["stats"]["added_bytes"], "left_out": _left_out(m)})
            except (ChunkError, KeyError, TypeError) as exc:
                rows.append({"id": snapshot_id, "error": str(exc)})
    if as_json:
        ui.print_json(rows)
    elif not rows:
        print("no backups yet (`claude-docker backup create` takes one)")
    else:
        print(ui.table([[r["id"], r.get("scope", "?"), r.get("reason", "?"), str(r.get("files", "")),
                         _size(r["bytes"]) if "bytes" in r else r.get("error", ""),
                         _size(r["added_bytes"]) if "added_bytes" in r else "", str(len(r.get("left_out", ())))]
                        for r in rows], ["ID", "SCOPE", "REASON", "FILES", "SIZE", "ADDED", "LEFT OUT"]))
        if any(r.get("left_out") for r in rows):
            _say("LEFT OUT: files a backup did not take (`backup verify` or `backup list --json` says why)")
    return exitcodes.OK


@cli.command("verify")
@click.argument("snapshot_id", required=False)
@JSON_OPTION
def verify_cmd(snapshot_id: str | None, as_json: bool) -> int:
    """Read every backup (or one) whole. ✗: damaged (a chunk missing or wrong); !: whole, but no recovery
    point (taken while a config file was broken, or of a wiped state). Exit status 1 if any is damaged."""
    from claude_docker import ui
    from claude_docker.backup.store import ChunkError
    from claude_docker.backup.verify import check

    store = _store()
    store.meta()
    ids = [_load(store, snapshot_id)["id"]] if snapshot_id else store.snapshot_ids()
    results = []
    for sid in ids:
        left: list[str] = []
        try:
            manifest = store.load(sid)
            left = _left_out(manifest)
            damage, unusable = check(store, manifest, _progress(f"verifying {sid}"))
        except ChunkError as exc:
            damage, unusable = [str(exc)], []
        results.append({"id": sid, "good": not damage and not unusable, "damaged": bool(damage),
                        "problems": damage + unusable, "left_out": left})
    if as_json:
        ui.print_json(results)
    else:
        for r in results:
            status = "ok" if r["good"] else "fail" if r["damaged"] else "warn"
            print(f"{ui.mark(status)} {r['id']}" + ("" if r["good"] else f": {'; '.join(r['problems'][:3])}"))
            for line in r["left_out"][:LEFT_OUT_SHOWN]:
                print(f"    left out: {line}")
            if len(r["left_out"]) > LEFT_OUT_SHOWN:
                print(f"    left out: {len(r['left_out']) - LEFT_OUT_SHOWN} more (`backup list --json`)")
    return exitcodes.FAILURE if any(r["damaged"] for r in results) else exitcodes.OK


@cli.command()
@click.option("--keep-last", type=click.IntRange(0), default=None, help="Keep the N newest.")
@click.option("--keep-hourly", type=click.IntRange(0), default=None, help="Keep the newest of each of N hours.")
@click.option("--keep-daily", type=click.IntRange(0), default=None, help="Keep the newest of each of N days.")
@click.option("--keep-weekly", type=click.IntRange(0), default=None, help="Keep the newest of each of N weeks.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed, remove nothing.")
@JSON_OPTION
def prune(keep_last, keep_hourly, keep_daily, keep_weekly, dry_run: bool, as_json: bool) -> int:
    """Remove backups no rule keeps (restic's forget --keep-*, per scope), then the data only they used.
    Without any --keep option: last 5, hourly 24, daily 7, weekly 4. The newest good backup is always kept."""
    from claude_docker import ui
    from claude_docker.backup import retention

    given = (keep_last, keep_hourly, keep_daily, keep_weekly)
    policy = retention.DEFAULT if all(v is None for v in given) else retention.Policy(*(v or 0 for v in given))
    store = _store()
    store.meta()
    result = retention.prune(store, policy, dry_run)
    if as_json:
        ui.print_json({"dry_run": dry_run, **result})
    else:
        verb = "would remove" if dry_run else "removed"
        for sid in result["removed"]:
            print(f"{verb} {sid}")
        for sid, why in sorted(result["kept"].items()):
            print(f"keep {sid} ({', '.join(why)})")
        if not dry_run:
            print(f"freed {result['freed_chunks']} chunk(s), {_size(result['freed_bytes'])}")
    return exitcodes.OK


@cli.command()
@click.argument("snapshot_id", required=False)
@click.option("--repair", is_flag=True, help="Only bring back files that are missing or don't parse.")
@click.option("--force-credentials", is_flag=True,
              help="Put the backup's OAuth credentials back even over newer ones (refresh tokens are single-use).")
@click.option("--dry-run", is_flag=True, help="Say what would be restored, change nothing.")
@JSON_OPTION
def restore(snapshot_id: str | None, repair: bool, force_credentials: bool, dry_run: bool, as_json: bool) -> int:
    """Restore a backup (by default the newest good one). The current state is backed up first, so a
    restore can be undone by restoring that backup. Logs that only grew and newer credentials are kept."""
    from claude_docker import ui
    from claude_docker.backup.restore import restore as restore_backup

    store = _store()
    manifest = _load(store, snapshot_id)
    result = restore_backup(manifest, _claude(), "repair" if repair else "all", force_credentials, store,
                            progress=_progress("restoring"), dry_run=dry_run)
    if as_json:
        ui.print_json({"dry_run": dry_run, **result.to_json()})
        return exitcodes.OK
    verb = "would restore" if dry_run else "restored"
    made = "would create" if dry_run else "created"
    for key in result.dirs:
        print(f"{made} directory {key}")
    for key, target in result.links:
        print(f"{made} link {key} -> {target}")
    for key, why in result.written:
        print(f"{verb} {key} ({why})")
    for key, why in result.kept:
        print(f"kept {key}: {why}")
    summary = f"{verb} {len(result.written)} file(s) from backup {manifest['id']}, {result.same} unchanged"
    if result.pre_restore:
        summary += f"; the state before is backup {result.pre_restore}"
    print(summary)
    if result.held:
        print(f"held the state lines of {len(result.held)} transcript(s) for review (a native resume would obey "
              f"them): claude-docker held show restore-{manifest['id']}")
    return exitcodes.OK


@cli.command("find-good")
@JSON_OPTION
def find_good(as_json: bool) -> int:
    """The newest backup that verifies, and why each newer one was skipped. Exit status 4 if none does."""
    from claude_docker import ui
    from claude_docker.backup.recovery import find_good_backup

    store = _store()
    store.meta()
    good, skipped = find_good_backup(store, progress=_progress("verifying"))
    if as_json:
        ui.print_json({"good": good["id"] if good else None, "scope": good["scope"] if good else None,
                       "skipped": [{"id": s, "why": w} for s, w in skipped]})
    else:
        for sid, why in skipped:
            _say(f"skipped backup {sid}: {why}")
        if good:
            print(good["id"])
    return exitcodes.OK if good else exitcodes.NO_GOOD_BACKUP


@cli.command("verify-recovery")
@click.option("--no-smoke", is_flag=True, help="Skip the smoke run of the image.")
@JSON_OPTION
def verify_recovery_cmd(no_smoke: bool, as_json: bool) -> int:
    """Check the state now: each config file parses, the newest good backup's files are present, and the
    image runs `claude --version`. One pass/fail line per check; exit status 5 if any failed."""
    from claude_docker import ui
    from claude_docker.backup.recovery import find_good_backup, verify_recovery

    store = _store()
    good = find_good_backup(store, progress=_progress("verifying"))[0] if store.exists() else None
    checks = verify_recovery(_claude(), [good] if good else [], image=None if no_smoke else _image())
    if as_json:
        ui.print_json([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
    else:
        for c in checks:
            print(f"{ui.mark('ok' if c.ok else 'fail')} {c.name}: {c.detail}")
    return exitcodes.OK if all(c.ok for c in checks) else exitcodes.RECOVERY_UNVERIFIED


def _image() -> str:
    from claude_docker.options import RunOptions

    return RunOptions.from_env().image
