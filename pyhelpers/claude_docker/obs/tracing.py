"""W3C trace context and the spans of one run, stored in the OpenTelemetry OTLP/JSON file format.

One `claude` run is one trace (or a child of the caller's, when TRACEPARENT is set): a root span with
children for its steps. `write` appends the trace as one TracesData line to the traces file, which an
OpenTelemetry Collector's file receiver reads as it is (hex ids, 64-bit integers as strings, enums as
integers).
"""

from __future__ import annotations

import os
import time

from claude_docker import __version__

_HEX = frozenset("0123456789abcdef")
SPAN_KIND_INTERNAL, SPAN_KIND_CLIENT = 1, 3
STATUS_OK, STATUS_ERROR = 1, 2


def new_trace_id() -> str:
    while True:
        value = os.urandom(16).hex()
        if value.strip("0"):
            return value


def new_span_id() -> str:
    while True:
        value = os.urandom(8).hex()
        if value.strip("0"):
            return value


def parse_traceparent(value: str | None) -> tuple[str, str, bool] | None:
    """(trace id, parent span id, sampled) from a W3C traceparent, or None if it is not a valid one."""
    if not value:
        return None
    parts = value.strip().lower().split("-")
    if len(parts) < 4 or [len(p) for p in parts[:4]] != [2, 32, 16, 2] or not set("".join(parts[:4])) <= _HEX:
        return None
    version, trace_id, parent_id, flags = parts[:4]
    if version == "ff" or (version == "00" and len(parts) > 4) or not trace_id.strip("0") or not parent_id.strip("0"):
        return None
    return trace_id, parent_id, bool(int(flags, 16) & 1)


def format_traceparent(trace_id: str, span_id: str, sampled: bool = True) -> str:
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


class Span:
    def __init__(self, tracer: Tracer, name: str, parent_id: str | None, kind: int = SPAN_KIND_INTERNAL):
        self.tracer = tracer
        self.name = name
        self.span_id = new_span_id()
        self.parent_id = parent_id
        self.kind = kind
        self.start_ns = time.time_ns()
        self.end_ns = 0
        self.attributes: dict = {}
        self.status = 0
        self.status_message = ""

    def end(self, error: str | None = None, **attributes) -> Span:
        self.attributes.update(attributes)
        if error is not None:
            self.status, self.status_message = STATUS_ERROR, error
        elif not self.status:
            self.status = STATUS_OK
        self.end_ns = time.time_ns()
        return self

    @property
    def seconds(self) -> float:
        return ((self.end_ns or time.time_ns()) - self.start_ns) / 1e9

    def __enter__(self) -> Span:
        return self

    def __exit__(self, exc_type, exc, _tb) -> None:
        if not self.end_ns:
            self.end(error=f"{exc_type.__name__}: {exc}" if exc_type else None)


class Tracer:
    """The spans of one run. Joins the caller's trace when `traceparent` is a valid one."""

    def __init__(self, root_name: str, traceparent: str | None = None, **resource):
        parent = parse_traceparent(traceparent)
        self.trace_id = parent[0] if parent else new_trace_id()
        self.sampled = parent[2] if parent else True
        self.resource = {"service.name": "claude-docker", "service.version": __version__, **resource}
        self.spans: list[Span] = []
        self.root = self.start(root_name, parent[1] if parent else None)

    def start(self, name: str, parent_id: str | None = "", kind: int = SPAN_KIND_INTERNAL) -> Span:
        span = Span(self, name, self.root.span_id if parent_id == "" else parent_id, kind)
        self.spans.append(span)
        return span

    def traceparent(self, span: Span | None = None) -> str:
        return format_traceparent(self.trace_id, (span or self.root).span_id, self.sampled)

    def to_otlp(self) -> dict:
        return {"resourceSpans": [{
            "resource": {"attributes": _attributes(self.resource)},
            "scopeSpans": [{"scope": {"name": "claude-docker", "version": __version__},
                            "spans": [_span_json(self.trace_id, s) for s in self.spans]}],
        }]}

    def write(self, path) -> None:
        from claude_docker.obs import jsonl, settings

        failed = self.root.status_message if self.root.status == STATUS_ERROR else None
        for span in self.spans:
            if not span.end_ns:
                span.end(error=failed)  # a step cut short by the run's failure failed with it
        from claude_docker.obs import jsonline

        line = jsonline.line(self.to_otlp())
        if b"://" in line:  # a URL in a span (an error message, say), which may carry credentials
            from claude_docker import redact

            line = jsonline.line(redact.strings(self.to_otlp()))
        size, keep = settings.log_limits()
        jsonl.append(path, line, size, keep)


def _value(value) -> dict:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _attributes(values: dict) -> list[dict]:
    return [{"key": k, "value": _value(v)} for k, v in values.items() if v is not None]


def _span_json(trace_id: str, span: Span) -> dict:
    status: dict[str, object] = {"code": span.status}
    data = {"traceId": trace_id, "spanId": span.span_id, "name": span.name, "kind": span.kind,
            "startTimeUnixNano": str(span.start_ns), "endTimeUnixNano": str(span.end_ns),
            "attributes": _attributes(span.attributes), "status": status}
    if span.parent_id:
        data["parentSpanId"] = span.parent_id
    if span.status_message:
        status["message"] = span.status_message
    return data
