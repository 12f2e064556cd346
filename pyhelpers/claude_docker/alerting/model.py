"""The names every part of the alert pipeline shares: severities, a notification, a delivery's result, a target.

A notification's identity is its label set (Alertmanager's): `fingerprint` hashes the sorted labels only, never
the annotations, so one alert is one thing to deduplicate, throttle and escalate however its summary reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# Most severe first. A critical alert also calls the rollout's rollback hook.
SEVERITIES = ("critical", "high", "medium", "low")
# Kinds of notification: an alert starting or still firing, one that resolved, the digest that coalesces what
# the hourly budget held back, and a user's own (`alert SEVERITY MESSAGE`).
FIRING, RESOLVED, DIGEST, MANUAL = "firing", "resolved", "digest", "manual"


def fingerprint(labels: dict[str, str]) -> str:
    """The label set's identity: sha256 of the sorted name=value pairs (separators that can't occur in them)."""
    h = hashlib.sha256()
    for name in sorted(labels):
        h.update(name.encode() + b"\xff" + str(labels[name]).encode() + b"\xff")
    return h.hexdigest()[:16]


@dataclass
class Notification:
    """One message to the user's channels. `labels` always hold `alertname` and `severity`; `items` are the
    notifications a digest stands for."""

    id: str
    kind: str
    labels: dict[str, str]
    summary: str
    runbook: str = ""
    starts_at: str = ""
    ends_at: str = ""
    value: float | None = None
    escalation: int = 0
    items: list[dict] = field(default_factory=list)

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def title(self) -> str:
        word = {RESOLVED: "resolved", DIGEST: "digest"}.get(self.kind, self.severity)
        return f"claude-docker [{word}] {self.alertname}"

    def to_json(self) -> dict:
        data: dict = {"id": self.id, "kind": self.kind, "labels": dict(self.labels), "summary": self.summary,
                      "runbook": self.runbook, "starts_at": self.starts_at, "ends_at": self.ends_at,
                      "value": self.value, "escalation": self.escalation}
        if self.items:
            data["items"] = self.items
        return data

    @classmethod
    def from_json(cls, data: dict) -> Notification:
        """Raises ValueError (KeyError, TypeError folded in) for a record that isn't one."""
        try:
            labels = {str(k): str(v) for k, v in dict(data["labels"]).items()}
            value = data.get("value")
            return cls(id=str(data["id"]), kind=str(data["kind"]), labels=labels, summary=str(data["summary"]),
                       runbook=str(data.get("runbook", "")), starts_at=str(data.get("starts_at", "")),
                       ends_at=str(data.get("ends_at", "")), value=None if value is None else float(value),
                       escalation=int(data.get("escalation", 0)), items=list(data.get("items") or []))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a notification: {exc}") from None


@dataclass(frozen=True)
class Delivery:
    """What one attempt to send did. `retry_after`: seconds the service asked us to wait (429); `permanent`:
    trying again can't help (a 4xx other than 429, a refused address): the outbox gives up on that target."""

    ok: bool
    detail: str = ""
    retry_after: float | None = None
    permanent: bool = False


@dataclass(frozen=True)
class Target:
    """A configured channel. `url` may hold a secret (a webhook token, a password): show `shown`, never `url`.
    `severities`: which alerts it gets; `escalation`: the level from which it gets them (0: from the start)."""

    url: str
    scheme: str
    shown: str
    severities: frozenset[str] = frozenset(SEVERITIES)
    escalation: int = 0

    def wants(self, note: Notification) -> bool:
        return note.severity in self.severities and note.escalation >= self.escalation
