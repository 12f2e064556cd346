"""The generic JSON webhook (json://host/path is https; json+http:// and json+https:// say which): one POST of
the notification as JSON per delivery, read as httppost reads every HTTP channel's answer (2xx delivered, 429
after its Retry-After, another 4xx permanent, 5xx and no answer retried). The body's `id` is the same on every
attempt, so a receiver can drop the one duplicate at-least-once delivery may make (outbox.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claude_docker.alerting import targets
from claude_docker.alerting.channels import httppost

if TYPE_CHECKING:
    from claude_docker.alerting.model import Delivery, Notification, Target


def body(note: Notification) -> dict:
    from claude_docker.liveness import host_name

    return {"version": 1, "id": note.id, "kind": note.kind, "labels": note.labels, "summary": note.summary,
            "runbook": note.runbook, "starts_at": note.starts_at, "ends_at": note.ends_at, "value": note.value,
            "escalation": note.escalation, "items": note.items, "fingerprint": note.fingerprint,
            "host": host_name()}


def send(target: Target, note: Notification, timeout: float) -> Delivery:
    return httppost.post_json("webhook", targets.http_url(target), body(note), timeout)
