"""Which alerts become notifications, and when: Alertmanager's notification log, for one user.

Per alert (its label set's fingerprint), at most one notification per `repeat_s`, whatever it says:
- a firing alert is told when it starts, then again only once `repeat_s` has passed while it keeps firing,
  each repeat one escalation level higher (targets with a higher `escalation` join in: desktop, then Slack,
  then mail); an alert firing again within 24 h of its last resolve starts one level above where it started;
- a resolve is told once, and only if its firing was, at the level the firing reached (every target that
  heard of it hears it ended);
- an alert that fires again less than `repeat_s` after it was last told (flapping) is told only if it is still
  firing once `repeat_s` has passed, and its resolve in between is not told at all;
- a user's own `alert` note is a one-shot: the same labels are told at most once per `repeat_s`, one level
  higher when it comes again within a day.

One log per alert, not per (alert, target) as Alertmanager keys it: every target is served from the same
decision (a target's part is `Target.wants`), so per-target entries would always agree.

The budget: at most `max_per_hour` notifications in any rolling hour, counting a notification once however
many targets get it. What is over is held (in the log, so a restart keeps it) and goes out as a digest listing
the held ones as soon as the budget allows; nothing is dropped. Ids are the log's epoch and a sequence number;
what a decision made is saved in the log (`outgoing`) before the outbox sees it, so a notifier killed in
between enqueues exactly those notifications, with those ids, on its next run.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from claude_docker import fsio
from claude_docker.alerting import files
from claude_docker.alerting.model import DIGEST, MANUAL, RESOLVED, SEVERITIES, Notification

if TYPE_CHECKING:
    from collections.abc import Callable

HOUR = 3600.0
REFIRE_S = 86400.0  # re-firing within this long of the last resolve starts one level higher
FORGET_S = 5 * 86400.0  # an alert not seen for this long is forgotten (Alertmanager's nflog keeps 120 h)
VERSION = 1


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _problem(data) -> str:
    """Why `data` is no notification log (every field the decisions read, checked), or ""."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return "not a notification log of this version"
    if not isinstance(data.get("epoch"), str) or not isinstance(data.get("seq"), int):
        return "no epoch or sequence"
    alerts, sent, held, outgoing = (data.get(k) for k in ("alerts", "sent", "held", "outgoing"))
    if not isinstance(alerts, dict) or not all(isinstance(r, dict) and all(
            r.get(k) is None or _number(r.get(k))
            for k in ("notified_at", "resolved_at", "seen", "level", "start", "base"))
            for r in alerts.values()):
        return "an alert's record is damaged"
    if not isinstance(sent, list) or not all(_number(t) for t in sent):
        return "the sent times are damaged"
    if not isinstance(held, list) or not all(isinstance(i, dict) and isinstance(i.get("labels"), dict)
                                             and _number(i.get("escalation", 0)) for i in held):
        return "a held notification is damaged"
    if not isinstance(outgoing, list):
        return "the outgoing notifications are damaged"
    try:
        for note in outgoing:
            Notification.from_json(note)
    except ValueError:
        return "an outgoing notification is damaged"
    return ""


class Log:
    def __init__(self, data: dict):
        self.epoch: str = data["epoch"]
        self.seq: int = int(data["seq"])
        self.alerts: dict[str, dict] = data["alerts"]
        self.sent: list[float] = [float(t) for t in data["sent"]]
        self.held: list[dict] = list(data["held"])
        self.outgoing: list[Notification] = [Notification.from_json(n) for n in data.get("outgoing", [])]

    @classmethod
    def new(cls) -> Log:
        return cls({"epoch": os.urandom(4).hex(), "seq": 0, "alerts": {}, "sent": [], "held": [], "outgoing": []})

    @classmethod
    def load(cls) -> Log:
        """The log in notify-log.json; a damaged one is set aside and a new one started (alerts firing now are
        then notified once more: better than never)."""
        from claude_docker import damage

        path = files.notify_log_file()
        try:
            data = json.loads(fsio.read_capped(path, 16 << 20))
        except FileNotFoundError:
            return cls.new()
        except (OSError, ValueError, RecursionError) as exc:
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        else:
            problem = _problem({"outgoing": [], **data} if isinstance(data, dict) else data)
            if not problem:
                return cls(data)
        damage.set_aside(path, problem, "a new notification log is started")
        return cls.new()

    def save(self) -> None:
        data = {"version": VERSION, "epoch": self.epoch, "seq": self.seq, "alerts": self.alerts,
                "sent": self.sent, "held": self.held, "outgoing": [n.to_json() for n in self.outgoing]}
        fsio.write_atomic(files.notify_log_file(), json.dumps(data).encode(), 0o600)

    def _id(self) -> str:
        self.seq += 1
        return f"{self.epoch}.{self.seq}"

    def decide(self, notes: list[Notification], now: float, repeat_s: float, max_per_hour: int,
               wanted: Callable[[Notification], bool]) -> list[Notification]:
        """The notifications to send now, from the alerts' notes (firing, resolved, manual), and a digest when
        the budget frees. A note no target wants is noted as if sent (a repeat may reach a target that joins at
        a higher level), but costs no budget."""
        self._forget(now)
        out = self._digest(now, max_per_hour)
        for note in notes:
            made = self._next(note, now, repeat_s)
            if made is None or not wanted(made):
                continue
            if self.held or not self._budget_left(now, max_per_hour):
                self.held.append(_item(made))
                continue
            self.sent.append(now)
            out.append(made)
        return out

    def _told(self, rec: dict, note: Notification, now: float, level: int) -> Notification:
        rec.update(notified_at=now, level=level, seen=now)
        return replace(note, id=self._id(), escalation=level)

    def _next(self, note: Notification, now: float, repeat_s: float) -> Notification | None:
        fp = note.fingerprint
        rec = self.alerts.get(fp)
        recent = rec is not None and rec.get("notified_at") is not None and now - rec["notified_at"] < repeat_s
        if note.kind == RESOLVED:
            if not rec or not rec.get("firing"):
                return None
            rec.update(firing=False, resolved_at=now, seen=now)
            if not rec.get("told"):
                return None  # its firing was never told (a flap inside the repeat interval): nor is its end
            rec["told"] = False
            return self._told(rec, note, now, rec["level"])
        if note.kind == MANUAL:
            if recent:
                return None
            again = rec is not None and rec.get("notified_at") is not None and now - rec["notified_at"] < REFIRE_S
            level = int(rec.get("level") or 0) + 1 if rec is not None and again else 0
            rec = self.alerts[fp] = {"start": 0, "firing": False, "told": False, "resolved_at": None}
            return self._told(rec, note, now, level)
        if rec and rec.get("firing"):
            rec["seen"] = now
            if recent:
                return None
            told_before, rec["told"], rec["base"] = rec.get("told"), True, rec["start"]
            return self._told(rec, note, now, rec["level"] + 1 if told_before else rec["level"])
        # A new episode starts a level above the last one told, if that one ended within a day (a flap that was
        # never told doesn't count: flapping doesn't climb the levels by itself).
        start = 0
        if rec and rec.get("resolved_at") is not None and now - rec["resolved_at"] < REFIRE_S:
            start = int(rec.get("base") or 0) + 1
        rec = self.alerts[fp] = {"start": start, "level": start, "firing": True, "told": not recent,
                                 "base": rec.get("base") if rec else None, "resolved_at": None,
                                 "notified_at": rec.get("notified_at") if rec else None, "seen": now}
        if recent:
            return None  # flapping: told once the repeat interval has passed, if it still fires then
        rec["base"] = start
        return self._told(rec, note, now, start)

    def _budget_left(self, now: float, max_per_hour: int) -> bool:
        self.sent = [t for t in self.sent if now - t < HOUR]
        return len(self.sent) < max_per_hour

    def _digest(self, now: float, max_per_hour: int) -> list[Notification]:
        if not self.held or not self._budget_left(now, max_per_hour):
            return []
        items, self.held = self.held, []
        ranks = [SEVERITIES.index(s) if s in SEVERITIES else len(SEVERITIES) - 1
                 for s in (i["labels"].get("severity") for i in items)]
        # The most severe item's severity and the highest level among them: the digest reaches the targets its
        # most pressing item would have.
        labels = {"alertname": "Digest", "severity": SEVERITIES[min(ranks)]}
        note = Notification(id=self._id(), kind=DIGEST, labels=labels,
                            summary=f"{len(items)} notification(s) held back by the hourly limit",
                            escalation=max(int(i.get("escalation", 0)) for i in items), items=items)
        self.sent.append(now)
        return [note]

    def _forget(self, now: float) -> None:
        self.alerts = {fp: r for fp, r in self.alerts.items() if now - r.get("seen", now) < FORGET_S}


def _item(note: Notification) -> dict:
    return {"id": note.id, "kind": note.kind, "labels": note.labels, "summary": note.summary,
            "starts_at": note.starts_at, "escalation": note.escalation}
