"""The notifier's two halves: `notify` turns alert notes into notifications (throttle) and writes them to the
outbox, sending nothing; `deliver` sends what the outbox holds, within a time budget, one deliverer at a time.

Pacing per target: Slack's incoming webhooks take 1 request a second (a token bucket with a burst of 1); a
429's Retry-After is honoured (up to an hour), that target waits and the others go on. A failed entry waits 5 s,
doubling to 10 min, until its deadline: then it gives up with one event. Nothing here raises for a channel's
failure; a state file that can't be written is one line (ToolError).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from claude_docker import exitcodes, locking
from claude_docker.alerting import channels, outbox, targets, throttle
from claude_docker.alerting.model import DIGEST, MANUAL, SEVERITIES, Notification, Target, fingerprint
from claude_docker.errors import ToolError, describe
from claude_docker.obs import catalog, events
from claude_docker.paths import ensure_private_dir, state_dir

if TYPE_CHECKING:
    from claude_docker.alerting.config import Settings

PACED = frozenset({"slack"})  # channels (targets.CHANNELS) paced to PACE_S between requests
PACE_S = 1.0
BACKOFF_FIRST_S = 5.0
BACKOFF_MAX_S = 600.0
RETRY_AFTER_MAX_S = 3600.0


def notify(notes: list[Notification], settings: Settings, now: float) -> list[Notification]:
    """Throttle `notes` and enqueue what comes out for the targets that want each; the notifications made.
    An empty `notes` still sends the digest of held notifications once the budget allows."""
    def wanted(note: Notification) -> bool:
        return any(t.wants(note) for t in settings.targets)

    try:
        with locking.state_lock("alert-notify"):
            log = throttle.Log.load()
            replayed = log.outgoing
            _enqueue(replayed, settings, now)  # what a notifier killed after deciding had not enqueued yet
            made = log.decide(notes, now, settings.repeat_s, settings.max_per_hour, wanted)
            if notes or made or replayed:  # (nothing decided, nothing to write: a quiet pass syncs no disk)
                log.outgoing = made
                log.save()  # the decision and its ids first: the outbox drops what it has already
                _enqueue(made, settings, now)
                log.outgoing = []
                log.save()
    except OSError as exc:
        raise ToolError(f"cannot record the notifications: {describe(exc)}", exitcodes.FAILURE) from None
    return made


def _enqueue(notes: list[Notification], settings: Settings, now: float) -> None:
    for note in notes:
        for target in settings.targets:
            mine = _for_target(note, target)
            if mine is not None:
                outbox.enqueue(mine, [target], now, settings.deadline_s)


def _for_target(note: Notification, target: Target) -> Notification | None:
    """`note` as `target` gets it, or None: a digest holds only the items the target wants (its severity the
    most severe of those), so every held notification reaches exactly the targets it would have."""
    if note.kind != DIGEST:
        return note if target.wants(note) else None
    items = [i for i in note.items if target.wants(replace(note, kind=MANUAL, labels=dict(i["labels"]),
                                                           escalation=int(i.get("escalation", 0)), items=[]))]
    if not items:
        return None
    worst = min(SEVERITIES.index(i["labels"].get("severity")) if i["labels"].get("severity") in SEVERITIES
                else len(SEVERITIES) - 1 for i in items)
    return replace(note, labels={**note.labels, "severity": SEVERITIES[worst]}, items=items,
                   summary=f"{len(items)} notification(s) held back by the hourly limit")


def _backoff(attempts: int) -> float:
    return min(BACKOFF_FIRST_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S)


def deliver(settings: Settings, now: float, budget_s: float = 30.0, outcomes: dict | None = None) -> dict:
    """Send what is due in the outbox, for at most about `budget_s` seconds. Time within the run is `now`
    plus the seconds spent. Another deliverer at work: nothing sent here, its counts are its own.
    `outcomes`, if given, gets each entry's key (notification id/target id) and what became of it: (outcome,
    the target as shown with the channel's answer)."""
    counts: dict = {"delivered": 0, "retry": 0, "gave_up": 0, "pending": 0}
    if outcomes is not None:
        counts["outcomes"] = outcomes
    fd = locking.try_lock(ensure_private_dir(state_dir() / "locks") / "alert-dispatch.lock")
    if fd is None:
        counts["pending"] = len(outbox.undelivered())
        return counts
    try:
        notify([], settings, now)  # the digest, if the budget freed since
        _run(settings, now, budget_s, counts)
        counts["pending"] = len(outbox.undelivered())
    except OSError as exc:
        raise ToolError(f"cannot record a delivery in the outbox: {describe(exc)}", exitcodes.FAILURE) from None
    finally:
        locking.unlock(fd)
    counts.pop("outcomes", None)
    return counts


def _run(settings: Settings, now: float, budget_s: float, counts: dict) -> None:
    started = time.monotonic()

    def clock() -> float:
        return now + time.monotonic() - started

    configured: dict[str, Target] = {outbox.target_id(t): t for t in settings.targets}
    free_at = outbox.waits()  # per target: when it may be sent to next (Retry-After, then pacing)
    todo = []
    # A target free within a second (Slack's pace, kept from the last run) is waited for here; a longer wait (a
    # Retry-After) is left to a later run.
    for entry in _due(outbox.undelivered(), configured, free_at, now, now + PACE_S):
        if now >= entry.deadline:
            why = "deadline passed" if entry.target in configured else "target no longer configured"
            _give_up(entry, now, f"{why}; last: {entry.detail or 'not tried'}", counts)
        else:
            todo.append(entry)
    while todo and time.monotonic() - started < budget_s:
        t = clock()
        ready = [e for e in todo if free_at.get(e.target, 0.0) <= t]
        if not ready:
            wait = min(free_at[e.target] for e in todo) - t
            if time.monotonic() - started + wait > budget_s:
                break
            time.sleep(wait)
            continue
        entry = ready[0]
        todo.remove(entry)
        target = configured[entry.target]
        left = budget_s - (time.monotonic() - started)
        result = channels.send(target, entry.note, timeout=max(1.0, min(10.0, left)))
        t = clock()
        if targets.channel(target) in PACED:  # counted from the answer: the next request can't arrive within 1 s,
            free_at[entry.target] = t + PACE_S  # from this run or the next one (the outbox keeps the wait)
            outbox.hold_target(entry.target, t + PACE_S)
        if result.ok:
            outbox.mark_delivered(entry, t)
            _count(entry, "delivered", counts)
        elif result.permanent:
            _give_up(entry, t, result.detail, counts)
        else:
            if result.retry_after is not None:
                # (capped: a proxy's Retry-After of a year would silence the target for good)
                wait = min(result.retry_after, RETRY_AFTER_MAX_S)
                free_at[entry.target] = max(free_at.get(entry.target, 0.0), t + wait)
                outbox.hold_target(entry.target, t + wait)
                todo = [e for e in todo if e.target != entry.target]  # that target waits; the rest go on
                next_try = t + wait
            else:
                next_try = t + _backoff(entry.attempts + 1)
            waiting = _keys(entry)
            todo = [e for e in todo if not _keys(e) & waiting]  # what comes after it, for that alert, waits too
            outbox.mark_retry(entry, t, next_try, result.detail)
            _count(entry, "retry", counts, result.detail)


def _keys(entry: outbox.Entry) -> set[tuple[str, str]]:
    """(target, alert) pairs an entry speaks for: its own alert's, and each held one a digest carries."""
    return {(entry.target, entry.note.fingerprint),
            *((entry.target, fingerprint(item["labels"])) for item in entry.note.items)}


def _due(entries: list[outbox.Entry], configured: dict, free_at: dict, now: float, until: float
         ) -> list[outbox.Entry]:
    """The entries due at `now` whose target is free by `until` (and those past their deadline, for the caller
    to give up), in queue order. Per target, one alert's notifications go in the order they were queued: a
    firing being retried is never overtaken by its own resolve, nor by a digest's (Alertmanager would take the
    late firing as the alert firing again). A target another process configured (its environment's alone) is
    left to that process."""
    found: list[outbox.Entry] = []
    blocked: set[tuple[str, str]] = set()
    for entry in entries:
        keys = _keys(entry)
        if now >= entry.deadline:
            found.append(entry)
        elif (entry.target not in configured or keys & blocked or entry.next_try > now
              or free_at.get(entry.target, 0.0) > until):
            blocked |= keys
        else:
            found.append(entry)
    return found


def next_due(settings: Settings) -> float:
    """When the earliest entry this process can send is due, its target's wait included (inf: none); `alert
    watch` wakes then. Entries waiting behind another of their alert, or for another process's target, are not."""
    configured = {outbox.target_id(t): t for t in settings.targets}
    waits = outbox.waits()
    after: dict[tuple[str, str], float] = {}  # per (target, alert): when the entries queued so far are due
    soonest = float("inf")
    for entry in outbox.undelivered():
        if entry.target not in configured:
            continue
        keys = _keys(entry)
        due = max(entry.next_try, waits.get(entry.target, 0.0), *(after.get(k, 0.0) for k in keys))
        after.update(dict.fromkeys(keys, due))
        soonest = min(soonest, due if due < entry.deadline else entry.deadline)
    return soonest


def _give_up(entry, now: float, detail: str, counts: dict) -> None:
    outbox.mark_gave_up(entry, now, detail)
    events.emit("alert.gave_up", f"notification {entry.note.title} to {entry.shown} not delivered: {detail}",
                level="warn", outcome="error", fields={"channel": entry.channel, "id": entry.note.id})
    _count(entry, "gave_up", counts, detail)


def _count(entry, outcome: str, counts: dict, detail: str = "") -> None:
    counts[outcome] += 1
    if "outcomes" in counts:
        counts["outcomes"][entry.key] = (outcome, f"{entry.shown}: {detail}" if detail else entry.shown)
    catalog.observe("claude_docker_notifications_total", 1, channel=entry.channel, outcome=outcome)
