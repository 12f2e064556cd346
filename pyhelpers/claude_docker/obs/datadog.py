"""send_to_datadog: events as logs (v2 logs intake) and observations as metrics (v2 series), with DD_API_KEY
and DD_SITE.

Batches respect Datadog's documented limits (logs: ≤1000 per request, ≤5 MB uncompressed, ≤1 MB each,
≤18 h old; metrics: ≤500 KB per payload, points ≤1 h old and ≤10 min ahead) and are gzipped. 408, 429
and 5xx are retried with exponential backoff (honouring Retry-After); 400 and 413 split the batch until
the one item Datadog can't take is alone, and drop only it; 401/403 and any other refusal stop with
everything kept, and so does a redirect, which is never followed (it would take the key elsewhere). The
logs are the spool: a cursor per stream advances only past what Datadog accepted, so nothing is lost and
nothing is sent twice. The API key goes in a header only and appears in no message, event or error.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import time

from claude_docker import __version__, envspec, exitcodes, redact
from claude_docker.errors import ToolError
from claude_docker.liveness import host_name
from claude_docker.locking import state_lock
from claude_docker.obs import cursors, jsonl, settings
from claude_docker.obs.context import utc_seconds
from claude_docker.obs.http import describe, post

LOGS, METRICS = "datadog-logs", "datadog-metrics"
MAX_LOGS = 1000
MAX_LOG_BATCH_BYTES = 5 * 1000 * 1000
MAX_LOG_BYTES = 1000 * 1000
MAX_LOG_AGE = 18 * 3600
MAX_SERIES_BYTES = 500 * 1000  # uncompressed, so the compressed payload is under the limit too
MAX_POINT_AGE, MAX_POINT_AHEAD = 3600, 600
RETRYABLE = {408, 429}
LEVEL_STATUS = {"debug": "debug", "info": "info", "warn": "warning", "error": "error"}


class Report:
    def __init__(self) -> None:
        self.logs_sent = 0
        self.metrics_sent = 0
        self.dropped = 0
        self.error: str | None = None

    def to_json(self) -> dict:
        return {"logs_sent": self.logs_sent, "metrics_sent": self.metrics_sent, "dropped": self.dropped,
                "error": self.error}


class _Stop(Exception):
    """Delivery can't go on now (key refused, retries exhausted): what is left stays spooled."""


def configured() -> bool:
    return bool(os.environ.get("DD_API_KEY"))


def urls() -> tuple[str, str]:
    """(logs intake, series API)."""
    base = envspec.get("CLAUDE_DOCKER_DATADOG_URL")  # a proxy, or a local stand-in in tests
    if base:
        base = base.rstrip("/")
        return base + "/api/v2/logs", base + "/api/v2/series"
    site = os.environ.get("DD_SITE") or "datadoghq.com"
    return f"https://http-intake.logs.{site}/api/v2/logs", f"https://api.{site}/api/v2/series"


def _epoch(iso) -> float:
    """A record's time as Unix seconds; a missing or broken one counts as very old."""
    seconds = utc_seconds(iso) if isinstance(iso, str) else None
    return seconds if seconds is not None else 0.0


class _Sender:
    def __init__(self, report: Report):
        self.report = report
        self.key = os.environ["DD_API_KEY"].strip()
        self.attempts = envspec.get("CLAUDE_DOCKER_DATADOG_RETRIES")
        self.backoff = envspec.get("CLAUDE_DOCKER_DATADOG_BACKOFF")

    def deliver(self, url: str, payload: bytes) -> int:
        """POST with retries; the final status (None: nothing answered)."""
        body = gzip.compress(payload)
        headers = {"DD-API-KEY": self.key, "Content-Type": "application/json", "Content-Encoding": "gzip"}
        status = None
        for attempt in range(self.attempts):
            status, response_headers, reason = post(url, body, headers)
            if status is not None and (200 <= status < 300 or (status < 500 and status not in RETRYABLE)):
                return status
            if attempt + 1 < self.attempts:
                time.sleep(self._delay(attempt, response_headers))
        raise _Stop(f"Datadog did not accept the data after {self.attempts} attempts ({describe(status, reason)})")

    def _delay(self, attempt: int, headers: dict) -> float:
        hint = headers.get("Retry-After") or headers.get("X-RateLimit-Reset")
        try:
            seconds = float(hint) if hint is not None else float("nan")
        except ValueError:
            seconds = float("nan")
        if math.isfinite(seconds) and seconds >= 0:
            return min(seconds, 60.0)
        return self.backoff * (2 ** attempt) * (0.5 + random.random() / 2)

    def send_batches(self, sink: str, url: str, batches: list[list[tuple[bytes | dict, jsonl.Cursor]]], encode) -> int:
        """Send batches of items (payload piece, cursor after it); commit the cursor after each success."""
        sent = 0
        for batch in batches:
            sent += self._send(sink, url, batch, encode)
        return sent

    def _send(self, sink: str, url: str, batch: list[tuple[bytes | dict, jsonl.Cursor]], encode) -> int:
        status = self.deliver(url, encode([piece for piece, _ in batch]))
        if 200 <= status < 300:
            cursors.save(sink, batch[-1][1])
            return len(batch)
        if status in (400, 413) and len(batch) > 1:
            # Something in the batch can't be taken: halve it to find what, and send the rest.
            half = len(batch) // 2
            return self._send(sink, url, batch[:half], encode) + self._send(sink, url, batch[half:], encode)
        if status in (400, 413):
            self.report.dropped += 1  # this one item can never be accepted: pass it
            cursors.save(sink, batch[-1][1])
            return 0
        if status in (401, 403):
            raise _Stop(f"Datadog refused the API key (HTTP {status}): check DD_API_KEY and DD_SITE")
        if 300 <= status < 400:
            raise _Stop(f"Datadog answered {describe(status, '')} (check DD_SITE and CLAUDE_DOCKER_DATADOG_URL); "
                        "everything is kept for the next send")
        raise _Stop(f"Datadog answered HTTP {status} (a proxy?); everything is kept for the next send")


def _batched(path, sink: str, convert, max_items: int, max_bytes: int):
    """Batches of (JSON piece, cursor after it) from the records of `path` not yet sent to `sink`.
    `convert` turns a record into a piece, or None to drop it (counted). Also returns the cursor at the
    end of what was read, to commit once every batch is delivered (so dropped tail records are passed)."""
    batches: list[list] = [[]]
    size, dropped, end = 0, 0, None
    for line, cursor in jsonl.read_new(path, cursors.load(sink, path)):
        end = cursor
        try:
            record = json.loads(line)
            piece = convert(record) if isinstance(record, dict) else None
        except (ValueError, KeyError, TypeError, AttributeError):
            piece = None
        if piece is None:
            dropped += 1
            continue
        length = len(piece) if isinstance(piece, bytes) else len(json.dumps(piece))
        if batches[-1] and (len(batches[-1]) >= max_items or size + length + 1 > max_bytes):
            batches.append([])
            size = 0
        batches[-1].append((piece, cursor))
        size += length + 1
    return [b for b in batches if b], dropped, end


def _log_piece(record: dict, now: float, host: str) -> bytes | None:
    if now - _epoch(record.get("time", "")) > MAX_LOG_AGE:
        return None
    item = {"ddsource": "claude-docker", "service": "claude-docker", "hostname": host,
            "ddtags": f"version:{__version__}", "status": LEVEL_STATUS.get(str(record.get("level")), "info"),
            "timestamp": record.get("time"), "message": record.get("message") or record.get("event", ""),
            **{k: v for k, v in record.items() if k not in ("message", "level")}}
    piece = json.dumps(item, ensure_ascii=False).encode()
    if b"://" in piece:  # an event stored before redaction existed may hold a credential URL
        item = redact.strings(item)
        piece = json.dumps(item, ensure_ascii=False).encode()
    if len(piece) > MAX_LOG_BYTES:  # truncate it ourselves rather than let the intake do it silently
        item["message"] = item["message"][:MAX_LOG_BYTES // 4]
        item.pop("fields", None)
        item["truncated"] = True
        piece = json.dumps(item, ensure_ascii=False).encode()
    return piece


def _series_piece(record: dict, now: float, host: str) -> dict | None:
    at = _epoch(record["time"])
    if now - at > MAX_POINT_AGE or at - now > MAX_POINT_AHEAD:
        return None
    series = {"metric": record["metric"].replace("claude_docker_", "claude_docker.", 1),
              "type": 1 if record.get("type") == "counter" else 3,
              "points": [{"timestamp": int(at), "value": float(record["value"])}],
              "tags": [f"{k}:{v}" for k, v in sorted(record.get("labels", {}).items())] + [f"version:{__version__}"],
              "resources": [{"name": host, "type": "host"}]}
    if series["type"] == 1:
        series["interval"] = 10
    return series


def _encode_series(pieces: list[dict]) -> bytes:
    """One payload; count points of one series in the same second are summed (Datadog keeps one value
    per series and timestamp, so separate points would undercount), a gauge keeps its last value."""
    merged: dict = {}
    for series in pieces:
        key = (series["metric"], series["type"], tuple(series["tags"]), series["points"][0]["timestamp"])
        if key in merged and series["type"] == 1:
            merged[key]["points"][0]["value"] += series["points"][0]["value"]
        else:
            merged[key] = json.loads(json.dumps(series))  # a copy: the batch may be split and resent
    return json.dumps({"series": list(merged.values())}).encode()


def send(now: float | None = None) -> Report:
    """Deliver what is spooled. Raises ToolError when DD_API_KEY is missing."""
    if not configured():
        raise ToolError("DD_API_KEY is not set", exitcodes.FAILURE)
    now = time.time() if now is None else now
    host = host_name()
    report = Report()
    logs_url, series_url = urls()
    sender = _Sender(report)
    streams = (
        (LOGS, settings.events_file(), logs_url, lambda r: _log_piece(r, now, host), MAX_LOGS, MAX_LOG_BATCH_BYTES,
         lambda pieces: b"[" + b",".join(pieces) + b"]", "logs_sent"),
        (METRICS, settings.metrics_file(), series_url, lambda r: _series_piece(r, now, host), 10**9, MAX_SERIES_BYTES,
         _encode_series, "metrics_sent"),
    )
    with state_lock("datadog"):
        try:
            for sink, path, url, convert, max_items, max_bytes, encode, counter in streams:
                batches, dropped, end = _batched(path, sink, convert, max_items, max_bytes)
                report.dropped += dropped
                setattr(report, counter, sender.send_batches(sink, url, batches, encode))
                if end is not None:
                    cursors.save(sink, end)
        except _Stop as stop:
            report.error = str(stop)
    return report
