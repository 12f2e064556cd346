"""The outbox: every notification for every target is written here before it is sent, so none is lost and
none is sent twice, whatever kills the process.

JSONL, one record per state change, each appended durably (one write, fsync) under the lock
"alert-outbox": `queued` (the notification, the target's id, its deadline) before the first send, then
`attempt` (attempts so far, when to try next), `delivered` or `gave_up` (the deadline passed, or the target
refused it for good), and `wait` (a target asked, by a 429's Retry-After, not to be sent to before a time:
every entry for it waits, in this run and the next). The state of an entry is its last record. A target is
kept by the hash of its URL, never the URL (it may hold a token): a target no longer configured can't be sent
to, and its entries give up.

Crash semantics: a `queued` entry is sent until a `delivered` or `gave_up` record follows it, so a restart
never loses one; a `delivered` one is never sent again. The one window no local log can close: killed after
the receiver accepted a request and before `delivered` reached the disk, that notification is sent once more
(at-least-once; a webhook's body carries the notification's id, the same on every attempt, to dedupe by).

Reading skips a torn last line (a crash mid-append) and, with one event, a damaged line; the file is then
rewritten without them. A file that can't be read at all is set aside (claude_docker.damage) and a new one
started. The file is compacted (rewritten atomically with the live entries only) once it grows.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass

from claude_docker import fsio
from claude_docker.alerting import files
from claude_docker.alerting.model import Notification, Target
from claude_docker.locking import state_lock

LOCK = "alert-outbox"
MAX_BYTES = 64 << 20
COMPACT_BYTES = 256 << 10
# The latest finished keys survive compaction, so a notification enqueued again (a notifier that died between
# enqueueing and saving its own log does that, with the same id) is not sent twice.
DONE_KEEP = 1000


@dataclass
class Entry:
    key: str
    note: Notification
    target: str  # target_id() of the configured target
    shown: str
    channel: str
    queued_at: float
    deadline: float
    attempts: int = 0
    next_try: float = 0.0
    detail: str = ""

    def record(self) -> dict:
        return {"op": "queued", "key": self.key, "note": self.note.to_json(), "target": self.target,
                "shown": self.shown, "channel": self.channel, "queued_at": self.queued_at,
                "deadline": self.deadline, "attempts": self.attempts, "next_try": self.next_try,
                "detail": self.detail}

    @classmethod
    def from_record(cls, r: dict) -> Entry:
        return cls(key=str(r["key"]), note=Notification.from_json(r["note"]), target=str(r["target"]),
                   shown=str(r["shown"]), channel=str(r["channel"]), queued_at=_time(r["queued_at"]),
                   deadline=_time(r["deadline"]), attempts=int(r.get("attempts", 0)),
                   next_try=_time(r.get("next_try", 0.0)), detail=str(r.get("detail", "")))


def _time(value) -> float:
    """A record's time; ValueError (a damaged record) for NaN or an infinity, which would leave an entry
    never due or never past its deadline."""
    t = float(value)
    if not math.isfinite(t):
        raise ValueError(f"not a time: {t}")
    return t


def target_id(target: Target) -> str:
    return hashlib.sha256(target.url.encode()).hexdigest()[:16]


def enqueue(note: Notification, targets: list[Target], now: float | None = None,
            deadline_s: float = 86400.0) -> int:
    """One entry per target, unless that (notification, target) is in the outbox already; how many were new."""
    from claude_docker.alerting.targets import channel

    now = time.time() if now is None else now
    added = 0
    with state_lock(LOCK):
        live, done, _waits = _load()
        for target in targets:
            tid = target_id(target)
            key = f"{note.id}/{tid}"
            if key in live or key in done:
                continue
            entry = Entry(key, note, tid, target.shown, channel(target), now, now + deadline_s, next_try=now)
            _append(entry.record())
            added += 1
    return added


def undelivered() -> list[Entry]:
    """Every entry not delivered nor given up, oldest first."""
    with state_lock(LOCK):
        return list(_load()[0].values())


def waits() -> dict[str, float]:
    """Per target id: the time before which it asked not to be sent to (Retry-After)."""
    with state_lock(LOCK):
        return _load()[2]


def hold_target(target: str, until: float) -> None:
    with state_lock(LOCK):
        _append({"op": "wait", "target": target, "until": until})


def pending(now: float) -> list[Entry]:
    """The entries due now (their next try has come), oldest first."""
    return [e for e in undelivered() if e.next_try <= now]


def mark_delivered(entry: Entry, now: float) -> None:
    _finish("delivered", entry, now, "")


def mark_gave_up(entry: Entry, now: float, detail: str) -> None:
    _finish("gave_up", entry, now, detail)


def mark_retry(entry: Entry, now: float, next_try: float, detail: str) -> None:
    entry.attempts += 1
    entry.next_try, entry.detail = next_try, detail
    with state_lock(LOCK):
        _append({"op": "attempt", "key": entry.key, "at": now, "attempts": entry.attempts, "next_try": next_try,
                 "detail": detail})


def _finish(op: str, entry: Entry, now: float, detail: str) -> None:
    with state_lock(LOCK):
        _append({"op": op, "key": entry.key, "at": now, "detail": detail})


def _append(record: dict) -> None:
    path = files.outbox_file()
    line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
    try:
        with open(path, "rb") as f:
            if f.seek(0, os.SEEK_END) and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n":
                line = b"\n" + line  # end a torn line left by a crash: it is skipped, ours is read whole
    except FileNotFoundError:
        pass
    fsio.append_durable(path, line)


def _load() -> tuple[dict[str, Entry], dict[str, float], dict[str, float]]:
    """Fold the log (under the lock): the live entries by key in queue order, the finished keys with when,
    and the targets' waits.
    Repairs (rewrites) the file when it held a torn or damaged line, compacts it when it has grown."""
    from claude_docker import damage
    from claude_docker.obs import events

    path = files.outbox_file()
    try:
        raw = fsio.read_capped(path, MAX_BYTES)
    except FileNotFoundError:
        return {}, {}, {}
    except OSError as exc:
        damage.set_aside(path, f"unreadable: {exc.strerror or exc}", "a new outbox is started")
        return {}, {}, {}
    lines = raw.split(b"\n")
    torn = lines.pop() != b""  # the part after the last newline: empty unless a crash tore the last record
    live: dict[str, Entry] = {}
    done: dict[str, float] = {}
    held: dict[str, float] = {}
    good = damaged = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            _apply(json.loads(line), live, done, held)
            good += 1
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            damaged += 1
    if damaged and not good:
        damage.set_aside(path, "no record in it can be read", "a new outbox is started")
        return {}, {}, {}
    if damaged:
        events.emit("alert.outbox_damaged", f"{path}: {damaged} damaged record(s) skipped and removed",
                    level="warn", outcome="error")
    size = len(raw)
    if torn or damaged or size > COMPACT_BYTES:
        _rewrite(path, live, done, held, size if not (torn or damaged) else None)
    return live, done, held


def _apply(r: dict, live: dict[str, Entry], done: dict[str, float], held: dict[str, float]) -> None:
    op = r["op"]
    if op == "wait":
        target, until = str(r["target"]), _time(r["until"])
        held[target] = max(until, held.get(target, until))
        return
    key = str(r["key"])
    if op == "queued":
        if key not in done:
            live[key] = Entry.from_record(r)
    elif op == "attempt":
        attempts, next_try, detail = int(r["attempts"]), _time(r["next_try"]), str(r.get("detail", ""))
        if key in live:
            entry = live[key]
            entry.attempts, entry.next_try, entry.detail = attempts, next_try, detail
    elif op in ("delivered", "gave_up", "done"):
        done.pop(key, None)  # re-inserted: the dict keeps finishing order
        done[key] = float(r["at"])
        live.pop(key, None)
    else:
        raise ValueError(f"unknown op {op!r}")


def _rewrite(path, live: dict[str, Entry], done: dict[str, float], held: dict[str, float],
             size: int | None) -> None:
    """The file with only what matters: live entries and recently finished keys. With `size` (compaction,
    not repair) only when that at least halves it, so a large live outbox isn't rewritten on every read."""
    records = [{"op": "done", "key": k, "at": at} for k, at in list(done.items())[-DONE_KEEP:]]
    now = time.time()  # (a wait that has run out is worth nothing: dropped)
    records += [{"op": "wait", "target": t, "until": until} for t, until in held.items() if until > now]
    records += [e.record() for e in live.values()]
    data = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)
    if size is not None and len(data) * 2 > size:
        return
    fsio.write_atomic(path, data, 0o600)
