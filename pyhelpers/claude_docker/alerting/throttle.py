"""Which alerts become notifications, and when: Alertmanager's notification log, for one user.

Per alert (its label set's fingerprint): a firing alert is notified when it starts, then again only once
`repeat_s` has passed while it keeps firing, each repeat one escalation level higher (targets with a higher
`escalation` join in: desktop, then Slack, then mail); an alert firing again within 24 h of its last resolve
starts one level above where it started before. A resolve is notified once, and only if its firing was, at
the level the firing reached (every target that heard of it hears it ended). A user's own `alert` notes go
through the same dedup (by their labels) and budget.

One log per alert, not per (alert, target) as Alertmanager keys it: every target is served from the same
decision (a target's part is `Target.wants`), so per-target entries would always agree.

The budget: at most `max_per_hour` notifications in any rolling hour, counting a notification once however
many targets get it. What is over is held (in the log, so a restart keeps it) and goes out as ONE digest
notification listing every held one as soon as the budget allows; nothing is dropped. Ids are the log's
epoch and a sequence number: a notifier that dies after enqueueing and before saving the log enqueues the
same ids again, which the outbox drops.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from claude_docker import fsio
from claude_docker.alerting import files
from claude_docker.alerting.model import DIGEST, RESOLVED, SEVERITIES, Notification

if TYPE_CHECKING:
    from collections.abc import Callable

HOUR = 3600.0
REFIRE_S = 86400.0  # re-firing within this long of the last resolve starts one level higher
FORGET_S = 5 * 86400.0  # an alert not seen for this long is forgotten (Alertmanager's nflog keeps 120 h)
VERSION = 1


class Log:
    def __init__(self, data: dict):
        self.epoch: str = data["epoch"]
        self.seq: int = int(data["seq"])
        self.alerts: dict[str, dict] = data["alerts"]
        self.sent: list[float] = [float(t) for t in data["sent"]]
        self.held: list[dict] = list(data["held"])

    @classmethod
    def new(cls) -> Log:
        return cls({"epoch": os.urandom(4).hex(), "seq": 0, "alerts": {}, "sent": [], "held": []})

    @classmethod
    def load(cls) -> Log:
        """The log in notify-log.json; a damaged one is set aside and a new one started (alerts firing now are
        then notified once more: better than never)."""
        from claude_docker import damage

        path = files.notify_log_file()
        try:
            data = json.loads(fsio.read_capped(path, 16 << 20))
            if data.get("version") != VERSION:
                raise ValueError("not a version this tool writes")
            log = cls(data)
            if not all(isinstance(v, dict) for v in log.alerts.values()) or not isinstance(log.epoch, str):
                raise ValueError("not a notification log")
            return log
        except FileNotFoundError:
            return cls.new()
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            damage.set_aside(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                             "a new notification log is started")
            return cls.new()

    def save(self) -> None:
        data = {"version": VERSION, "epoch": self.epoch, "seq": self.seq, "alerts": self.alerts,
                "sent": self.sent, "held": self.held}
        fsio.write_atomic(files.notify_log_file(), json.dumps(data).encode(), 0o600)

    def _id(self) -> str:
        self.seq += 1
        return f"{self.epoch}.{self.seq}"

    def decide(self, notes: list[Notification], now: float, repeat_s: float, max_per_hour: int,
               wanted: Callable[[Notification], bool]) -> list[Notification]:
        """The notifications to send now, from the alerts' notes (firing, resolved, manual), and a digest when
        the budget frees. A note no target wants is noted as if sent, but costs no budget."""
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

    def _next(self, note: Notification, now: float, repeat_s: float) -> Notification | None:
        fp = note.fingerprint
        rec = self.alerts.get(fp)
        if note.kind == RESOLVED:
            if not rec or not rec.get("firing"):
                return None
            rec.update(firing=False, resolved_at=now, seen=now)
            return replace(note, id=self._id(), escalation=rec["level"])
        if rec and rec.get("firing"):
            rec["seen"] = now
            if now - rec["notified_at"] < repeat_s:
                return None
            level = rec["level"] + 1
        else:
            start = 0
            if rec and rec.get("resolved_at") is not None and now - rec["resolved_at"] < REFIRE_S:
                start = rec.get("start", 0) + 1
            rec = self.alerts[fp] = {"start": start, "resolved_at": None}
            level = start
        rec.update(firing=True, notified_at=now, level=level, seen=now)
        return replace(note, id=self._id(), escalation=level)

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
