"""What `backup prune` keeps: restic's `forget --keep-*` rules, per scope, and always the newest good backup.

Buckets are calendar-aligned in local time, as restic's: an hour, a day, an ISO week (Monday to Sunday).
Each rule keeps the newest snapshot of each of its N most recent buckets that hold one; rules are ORed,
so a snapshot is kept if any rule keeps it. An empty policy is refused.
"""

from __future__ import annotations

import time
from collections import namedtuple

from claude_docker import exitcodes
from claude_docker.errors import ToolError

Policy = namedtuple("Policy", "last hourly daily weekly")
DEFAULT = Policy(last=5, hourly=24, daily=7, weekly=4)

def _iso_week(t: float) -> str:
    import datetime

    year, week, _ = datetime.date.fromtimestamp(t).isocalendar()
    return f"{year:04d}-W{week:02d}"


_BUCKETS = {
    "hourly": lambda t: time.strftime("%Y-%m-%d %H", time.localtime(t)),
    "daily": lambda t: time.strftime("%Y-%m-%d", time.localtime(t)),
    "weekly": _iso_week,
}


def kept(snapshots: list[tuple[str, float]], policy: Policy) -> dict[str, list[str]]:
    """{snapshot id: the rules that keep it} for snapshots (id, time) of one group, any order."""
    if not any(policy):
        raise ToolError("refusing an empty retention policy: it would remove every backup", exitcodes.USAGE)
    newest_first = sorted(snapshots, key=lambda s: s[1], reverse=True)
    reasons: dict[str, list[str]] = {}
    for snapshot_id, _ in newest_first[: policy.last]:
        reasons.setdefault(snapshot_id, []).append("last")
    for rule in ("hourly", "daily", "weekly"):
        count = getattr(policy, rule)
        seen: set[str] = set()
        for snapshot_id, when in newest_first:
            if len(seen) >= count:
                break
            bucket = _BUCKETS[rule](when)
            if bucket not in seen:
                seen.add(bucket)
                reasons.setdefault(snapshot_id, []).append(rule)
    return reasons


def prune(store, policy: Policy, dry_run: bool = False) -> dict:
    """Forget the snapshots no rule keeps, then delete the chunks nothing references any more. The newest
    good snapshot of each scope is always kept, whatever the policy says.

    Which one that is, is found (each backup read whole) before the store's lock is taken: a backup verifies in
    minutes on a large state, and a session's pre-sync backup would wait for the lock meanwhile. Done without
    the lock, a prune running at the same time can only make it pick an older one: it keeps more, never less."""
    from claude_docker.backup.recovery import find_good_backup
    from claude_docker.backup.scope import SCOPES
    from claude_docker.backup.store import ChunkError, snapshot_time

    newest_good: dict[str, str] = {}
    for group in SCOPES:
        good, _ = find_good_backup(store, group)
        if good is not None:
            newest_good[group] = good["id"]
    with store.lock():
        chunks: dict[str, set | None] = {}  # each snapshot's chunk ids (not its manifest: prune keeps many)
        groups: dict[str, list] = {}
        for snapshot_id in store.snapshot_ids():
            try:
                manifest = store.load(snapshot_id)
                when = snapshot_time(snapshot_id)
            except (ChunkError, ValueError):
                chunks[snapshot_id] = None  # unreadable (a key rotated, a permission): never forgotten
                continue
            chunks[snapshot_id] = {c[0] for e in manifest.get("entries", ()) if isinstance(e, dict)
                                   and e.get("type") == "file" for c in e.get("chunks", ())}
            groups.setdefault(manifest.get("scope", "?"), []).append((snapshot_id, when))
        reasons: dict[str, list[str]] = {s: ["unreadable"] for s, ids in chunks.items() if ids is None}
        for group, members in groups.items():
            for snapshot_id, why in kept(members, policy).items():
                reasons.setdefault(snapshot_id, []).extend(why)
            if newest_good.get(group) in chunks:
                reasons.setdefault(newest_good[group], []).append("newest good")
        removed = [s for s in chunks if s not in reasons]
        freed = (0, 0)
        if not dry_run:
            for snapshot_id in removed:
                store.forget(snapshot_id)
            in_use = [ids for s in reasons if (ids := chunks[s]) is not None]
            if len(in_use) == len(reasons):  # an unreadable one's chunks are unknown: nothing is collected
                freed = store.collect_garbage(set().union(*in_use))
            from claude_docker.obs import events

            events.emit("backup.pruned", f"removed {len(removed)} backup(s)", outcome="ok",
                        fields={"removed": len(removed), "kept": len(reasons), "freed_bytes": freed[1]})
        return {"kept": reasons, "removed": removed, "freed_chunks": freed[0], "freed_bytes": freed[1]}
