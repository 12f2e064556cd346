"""Structured events: one JSON line each in ~/.claude-docker-events.jsonl (schema in docs/MONITORING.md).

    {"time": "2026-11-21T22:40:01.123Z", "level": "info", "event": "session.end", "message": "...",
     "trace_id": "<32 hex>", "span_id": "<16 hex>", "session": "<id>", "project": "/path", "slot": "v1",
     "duration_ms": 1234.5, "outcome": "ok", "fields": {...}}

Keys without a value are left out. Every operation emits its own events through `emit`.
"""

from __future__ import annotations

import math

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.obs import context, jsonl, jsonline, settings

LEVELS = ("debug", "info", "warn", "error")
# Top-level keys a caller may set; everything else goes under "fields".
SETTABLE = ("level", "message", "outcome", "duration_ms")


def emit(event: str, message: str = "", level: str = "info", outcome: str | None = None,
         duration_ms: float | None = None, fields: dict | None = None, strict: bool = False) -> None:
    """Append one event (nothing when observability is off).

    A log that can't be written never breaks the operation being logged; `strict` (log_event from the
    shell, whose whole job this is) turns that into an error instead."""
    on, path, size, keep = settings.events_sink()
    if not on:
        return None
    text = _record(event, message, level, outcome, duration_ms, fields)
    if "://" in text:  # a URL, which may carry credentials (rare: the check is all the hot path pays)
        from claude_docker import redact

        text = _record(redact.text(event), redact.text(message), level, outcome, duration_ms, redact.strings(fields))
    try:
        jsonl.append(path, text.encode("utf-8"), size, keep)
    except Exception as exc:  # noqa: BLE001 - a log that can't be written (full disk, rotation lock timeout...)
        if strict:
            reason = exc.strerror if isinstance(exc, OSError) else getattr(exc, "message", str(exc))
            raise ToolError(f"cannot write the event log {path}: {reason}", exitcodes.FAILURE) from None


def _record(event: str, message: str, level: str, outcome: str | None, duration_ms: float | None,
            fields: dict | None) -> str:
    dumps = jsonline.dumps
    # Built member by member, in the schema's order, with the process's context encoded once.
    text = f'{{"time":"{context.utc_now()}","level":{dumps(level)},"event":{dumps(event)}'
    if message:
        text += ',"message":' + dumps(message)
    text += context.fragment()
    if duration_ms is not None:
        text += ',"duration_ms":' + dumps(round(float(duration_ms), 3))
    if outcome:
        text += ',"outcome":' + dumps(outcome)
    if fields:
        text += ',"fields":' + dumps(fields)
    return text + "}\n"


def from_shell(event: str, pairs: list[str]) -> None:
    """`log_event EVENT key=value ...`: values keep their text exactly, whatever bytes it holds (but for
    credentials in URLs, which `emit` redacts)."""
    if not event or "=" in event:
        raise ToolError("usage: log_event EVENT [KEY=VALUE ...]", exitcodes.USAGE)
    top: dict = {}
    fields: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ToolError(f"not KEY=VALUE: {pair!r} (usage: log_event EVENT [KEY=VALUE ...])", exitcodes.USAGE)
        key, _ = context.clean_text(key)
        text, raw = context.clean_text(value)
        if key in SETTABLE:
            top[key] = text
        else:
            fields[key] = text
            if raw is not None:
                fields[key + ".base64"] = raw
    level = top.pop("level", "info")
    if level not in LEVELS:
        raise ToolError(f"level must be one of {', '.join(LEVELS)}, not {level!r}", exitcodes.USAGE)
    duration = top.pop("duration_ms", None)
    try:
        duration_ms = float(duration) if duration is not None else None
        if duration_ms is not None and not math.isfinite(duration_ms):
            raise ValueError
    except ValueError:
        raise ToolError(f"duration_ms must be a number of milliseconds, not {duration!r}", exitcodes.USAGE) from None
    event, _ = context.clean_text(event)
    emit(event, top.get("message", ""), level, top.get("outcome"), duration_ms, fields or None, strict=True)
