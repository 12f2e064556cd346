"""gitops_reconcile_loop's cycle (one reconcile, one line for the journal), what wakes it (a local source's
branch moved, the settings changed), and `gitops status`."""

from __future__ import annotations

import os
import sys
import time

from claude_docker.gitops import settings

LOOP_LOCK = "loop.lock"


def run() -> int:
    from claude_docker import exitcodes, loop

    values = settings.load()
    src = settings.mirror(values)

    def wake() -> object:
        try:
            st = os.stat(settings.settings_file())
            ours = (st.st_mtime_ns, st.st_ino, st.st_size)
        except OSError:
            ours = None
        return (src.marker(), ours)

    return loop.run("gitops loop", _cycle, interval=values["interval"], retry=values["retry"],
                    max_backoff=values["max_backoff"], jitter=values["jitter"], wake=wake,
                    lock_path=settings.gitops_dir() / LOOP_LOCK, busy=exitcodes.GITOPS_BUSY)


def _cycle() -> bool:
    """One reconcile with the settings as they are now; its outcome as one line on stderr (the journal)."""
    from claude_docker import ui
    from claude_docker.errors import ToolError
    from claude_docker.gitops.reconcile import Reconcile

    try:
        report = Reconcile().run()
    except ToolError as exc:
        ui.error(f"gitops: {exc.message}")
        return False
    parts = [f"{report['result']} at {(report['revision'] or '-')[:12]}"]
    for key in ("applied", "held", "drift", "pruned"):
        if report[key]:
            parts.append(f"{len(report[key])} {key}")
    line = ", ".join(parts) + "".join(f"; {n}" for n in report["notes"])
    print(f"gitops: {line}", file=sys.stderr, flush=True)
    return True


def status() -> dict:
    from claude_docker import locking, redact
    from claude_docker.gitops import journal, record

    values = settings.load()
    rec = record.load()
    fd = locking.try_lock(settings.gitops_dir() / LOOP_LOCK)
    if fd is not None:
        locking.unlock(fd)
    attempt = rec["attempt"] or {}
    return {
        "source": redact.url(values["source"]), "branch": values["branch"],
        "signed_commands": _signed_commands(values),
        "self_heal": values["self_heal"], "prune": values["prune"], "interval": values["interval"],
        "revision": rec["revision"], "revision_time": rec.get("revision_time"), "items": len(rec["items"]),
        "held": rec.get("held") or [], "drift": [{"item": i, "direction": d} for i, d in rec.get("drift") or []],
        "last_attempt": {k: attempt.get(k) for k in ("revision", "ok", "at", "failures", "next", "error")
                         if k in attempt} or None,
        "interrupted_apply": journal.pending() is not None, "loop_running": fd is None,
        "rollout": {k: v for k, v in (rec.get("rollout") or {}).items() if k != "digest"} or None,
    }


def _signed_commands(values: dict) -> str:
    if values["trust_unsigned"]:
        return "applied from any commit"
    if values["allowed_signers"] or values["gpg_fingerprints"]:
        return "applied from commits of allowed signers"
    return "held (no allowed signers set)"


def status_lines(report: dict) -> list[str]:
    def when(t) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"

    revision = (report["revision"] or "none applied yet")[:12]
    lines = [f"source     {report['source']} ({report['branch']})",
             f"revision   {revision} (committed {when(report['revision_time'])}), {report['items']} managed item(s)",
             (f"host cmds  {report['signed_commands']}; self-heal {'on' if report['self_heal'] else 'off'}, "
              f"prune {'on' if report['prune'] else 'off'}"),
             f"loop       {'running' if report['loop_running'] else 'not running'}, every {report['interval']:g}s"]
    attempt = report["last_attempt"]
    if attempt and not attempt.get("ok"):
        lines.append(f"last try   failed at {when(attempt.get('at'))} ({attempt.get('failures')} in a row): "
                     f"{attempt.get('error')}; next at {when(attempt.get('next'))}")
    if report["interrupted_apply"]:
        lines.append("an interrupted apply waits to be undone (the next reconcile does it)")
    for held in report["held"]:
        lines.append(f"held       {held['item']}: {held['reason']}")
    for d in report["drift"]:
        lines.append(f"drift      {d['item']} ({d['direction']})")
    return lines
