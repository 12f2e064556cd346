"""detect_drift: the cheap probe, like `chezmoi verify`. Exit 0 in sync, 1 drift, 2 could not tell.

By default it reads no network and no git: the record of the last reconcile holds the repository's digests,
so the probe hashes the host's managed files and compares. When the mirror holds a newer revision than the one
reconciled (fetched, not applied yet), or with --fetch, that revision is read (and decrypted) to compare with.
Directions: `repo` (the repository changed: the next reconcile applies it, or holds it), `local` (changed
here since the last apply), `both`."""

from __future__ import annotations

from claude_docker.gitops import compare, items, record, settings
from claude_docker.gitops.hostfiles import HostFiles
from claude_docker.paths import ClaudeHome

IN_SYNC, DRIFT, UNKNOWN = 0, 1, 2


def detect(fetch: bool = False, claude: ClaudeHome | None = None) -> dict:
    """{"revision", "reconciled", "items": [{"item", "direction"}], "status": IN_SYNC | DRIFT}; ToolError
    when it can't tell (the caller exits UNKNOWN)."""
    from claude_docker import exitcodes
    from claude_docker.errors import ToolError
    from claude_docker.gitops import journal
    values = settings.load()
    claude = claude or ClaudeHome.from_env()
    if journal.pending() is not None:
        raise ToolError("an apply was interrupted and is not undone yet", exitcodes.GITOPS_SOURCE,
                        "run `claude-docker gitops reconcile` (it undoes it first)")
    rec = record.load()
    if rec["revision"] is None:
        raise ToolError("never reconciled: nothing to compare with", exitcodes.GITOPS_SOURCE,
                        "run `claude-docker gitops reconcile`")
    digester = record.Digester()
    host = HostFiles(claude)
    src = settings.mirror(values)
    rev = src.fetch() if fetch else src.revision()
    if rev in (None, rec["revision"]):
        found = items.recorded(rec, host, digester)
    else:
        desired = items.read_revision(src, rev)
        repo = {i: items.digest(digester, v) for i, v in items.repo_values(desired).items()}
        applied = {i: v["applied"] for i, v in rec["items"].items()}
        found = compare.compare(repo, applied, items.host_digests(host, set(repo) | set(applied), digester))
    drifted = [{"item": record.describe(i.ident), "direction": i.state} for i in found if i.state in compare.DRIFT]
    if any(i.state == compare.DROPPED and i.prunable for i in found) and values["prune"]:
        drifted += [{"item": record.describe(i.ident), "direction": "repo"} for i in found if i.prunable]
    return {"revision": rev or rec["revision"], "reconciled": rec["revision"], "items": drifted,
            "status": DRIFT if drifted else IN_SYNC}


def told(result: dict) -> None:
    """Drift is an event and a metric."""
    from claude_docker.obs import events
    from claude_docker.obs.catalog import observe

    local = [d for d in result["items"] if d["direction"] != compare.REPO]
    observe("claude_docker_gitops_drift_items", len(local))
    if result["items"]:
        events.emit("gitops.drift", f"{len(result['items'])} managed item(s) out of sync", level="warning",
                    fields={"items": [f"{d['item']} ({d['direction']})" for d in result["items"]][:50]})


def main(fetch: bool, as_json: bool) -> int:
    """`gitops drift` (detect_drift), also run without click by cli.py: a probe run from cron or a prompt."""
    from claude_docker import ui
    from claude_docker.errors import ToolError

    try:
        result = detect(fetch=fetch)
    except ToolError as exc:
        if as_json:
            ui.print_json({"status": "unknown", "error": exc.message})
        else:
            ui.error(f"could not tell: {exc.message}")
        return UNKNOWN
    told(result)
    if as_json:
        ui.print_json({**result, "status": "drift" if result["status"] else "in-sync"})
    elif result["items"]:
        ui.say(f"drift from {result['revision'][:12]}:", "warn")
        for d in result["items"]:
            ui.say(f"  {d['item']} ({d['direction']})")
    else:
        ui.say(f"in sync with {result['revision'][:12]}", "ok")
    return result["status"]
