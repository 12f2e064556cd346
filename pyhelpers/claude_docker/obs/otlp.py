"""Export the stored traces by OTLP/HTTP (JSON) when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces-only
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Each trace line is sent once; a failure leaves it for the
next flush."""

from __future__ import annotations

import json
import os
from urllib.parse import unquote

from claude_docker import envspec, redact
from claude_docker.locking import state_lock
from claude_docker.obs import cursors, jsonl, settings
from claude_docker.obs.http import describe, post

SINK = "otlp-traces"
MAX_TRACES_PER_REQUEST = 256


def endpoint() -> str | None:
    """Where to POST traces: CLAUDE_DOCKER_OTLP_ENDPOINT, else the standard OTEL_EXPORTER_OTLP_* settings
    when their protocol is http/json (or unset). A gRPC or protobuf endpoint, often set up for Claude
    Code's own telemetry, can't take our JSON: then only CLAUDE_DOCKER_OTLP_ENDPOINT exports."""
    ours = envspec.get("CLAUDE_DOCKER_OTLP_ENDPOINT")
    if ours:
        return ours
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol != "http/json":
        return None
    url = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if url:
        return url
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return base.rstrip("/") + "/v1/traces" if base else None


def headers() -> dict:
    """OTEL_EXPORTER_OTLP_HEADERS (and _TRACES_HEADERS): `key=value,key2=value2`, values URL-encoded."""
    result = {"Content-Type": "application/json"}
    for var in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        for pair in os.environ.get(var, "").split(","):
            key, sep, value = pair.partition("=")
            if sep and key.strip():
                result[key.strip()] = unquote(value.strip())
    return result


def export() -> int:
    """Send the traces not yet sent; returns how many. Raises OSError with the reason if delivery failed."""
    url = endpoint()
    if not url:
        return 0
    sent = 0
    with state_lock(SINK):
        pending = jsonl.read_new(settings.traces_file(), cursors.load(SINK, settings.traces_file()))
        for start in range(0, len(pending), MAX_TRACES_PER_REQUEST):
            batch = pending[start:start + MAX_TRACES_PER_REQUEST]
            spans = []
            for line, _ in batch:
                try:
                    spans += json.loads(line).get("resourceSpans", [])
                except (ValueError, AttributeError, TypeError):
                    continue
            body = json.dumps({"resourceSpans": spans})
            if "://" in body:  # a trace stored before redaction existed may hold a credential URL
                body = json.dumps({"resourceSpans": redact.strings(spans)})
            status, _, reason = post(url, body.encode(), headers())
            if status in (400, 413):
                cursors.save(SINK, batch[-1][1])  # the collector will never take these: pass them
                continue
            if status is None or not 200 <= status < 300:
                raise OSError(f"OTLP export to {redact.url(url)} failed: {describe(status, reason)}")
            cursors.save(SINK, batch[-1][1])
            sent += len(batch)
    return sent
