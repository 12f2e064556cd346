"""The generic JSON webhook (json://host/path is https, json+http:// and json+https:// say which): one POST of
the notification as JSON per delivery. 2xx delivered; 429 waits its Retry-After; any other 4xx (or a redirect,
never followed) can't get better by trying again; 5xx and no answer are retried by the outbox."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl, urlencode

from claude_docker.alerting.model import Delivery, Notification, Target
from claude_docker.obs import http

# Query parameters that configure the target (targets.parse), not the receiver's URL.
_OURS = ("severity", "escalation")


def endpoint(target: Target) -> str:
    scheme, _, rest = target.url.partition("://")
    base, sep, query = rest.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in _OURS] if sep else []
    url = ("http" if scheme.lower() == "json+http" else "https") + "://" + base
    return url + ("?" + urlencode(kept) if kept else "")


def body(note: Notification) -> dict:
    from claude_docker.liveness import host_name

    return {"version": 1, "id": note.id, "kind": note.kind, "labels": note.labels, "summary": note.summary,
            "runbook": note.runbook, "starts_at": note.starts_at, "ends_at": note.ends_at, "value": note.value,
            "escalation": note.escalation, "items": note.items, "fingerprint": note.fingerprint,
            "host": host_name()}


def retry_after(headers: dict, now: float | None = None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110); None when absent or unreadable."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - (time.time() if now is None else now))
    except (TypeError, ValueError):
        return None


def outcome(status: int | None, headers: dict, reason: str) -> Delivery:
    """What an HTTP answer means for a notification (shared by the HTTP channels)."""
    if status is not None and 200 <= status < 300:
        return Delivery(True, f"HTTP {status}")
    detail = http.describe(status, reason)
    if status == 429:
        return Delivery(False, detail, retry_after=retry_after(headers))
    permanent = status is not None and (300 <= status < 500)
    return Delivery(False, detail, permanent=permanent)


def send(target: Target, note: Notification, timeout: float) -> Delivery:
    data = json.dumps(body(note)).encode()
    # The id lets a receiver drop the one duplicate at-least-once delivery can make (outbox.py).
    headers = {"Content-Type": "application/json", "Idempotency-Key": note.id}
    status, answer, reason = http.post(endpoint(target), data, headers, timeout)
    result = outcome(status, answer, reason)
    return result if result.ok else Delivery(False, f"{target.shown}: {result.detail}", result.retry_after,
                                             result.permanent)
