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
