"""One JSON POST for the HTTP channels (Slack, Alertmanager, webhooks), its answer read as a Delivery:
2xx delivered; 429 and 408 retried (after Retry-After when given); another 4xx or a redirect is permanent
(the request or the address is wrong: trying again can't help); 5xx and no answer are retried. Messages
carry the status or the network's reason, never the URL (its path may be the secret)."""

from __future__ import annotations

import json

from claude_docker.alerting.model import Delivery
from claude_docker.obs import http

_RETRIED = (408, 429)


def retry_after(headers: dict, now: float | None = None) -> float | None:
    """Retry-After in seconds: its delay form, or its HTTP-date form as the time left until then (junk: None,
    our own backoff applies)."""
    import math
    import time

    for name, value in headers.items():
        if name.lower() == "retry-after":
            text = str(value).strip()
            try:
                seconds = float(text)
            except ValueError:
                from email.utils import parsedate_to_datetime

                try:
                    seconds = parsedate_to_datetime(text).timestamp() - (time.time() if now is None else now)
                except (TypeError, ValueError, OverflowError):
                    return None
                seconds = max(seconds, 0.0)
            return seconds if seconds >= 0 and math.isfinite(seconds) else None
    return None


def post_json(channel: str, url: str, payload, timeout: float) -> Delivery:
    body = json.dumps(payload).encode()
    status, headers, reason = http.post(url, body, {"Content-Type": "application/json"}, timeout)
    if status is not None and 200 <= status < 300:
        return Delivery(ok=True, detail=f"{channel}: HTTP {status}")
    detail = f"{channel}: {http.describe(status, reason)}"
    if status in _RETRIED:
        return Delivery(ok=False, detail=detail, retry_after=retry_after(headers))
    permanent = status is not None and status < 500
    return Delivery(ok=False, detail=detail + (" (not retried)" if permanent else ""), permanent=permanent)
