"""What an operation outside a session records (a recovery, a backup): one trace with a span per step,
and an event per step carrying the trace id, so `claude-docker trace` and the event log tell its story."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from claude_docker.obs import context, events, settings
from claude_docker.obs.tracing import Tracer


class OperationLog:
    def __init__(self, name: str, **attributes):
        self.name = name
        self.started = time.monotonic()
        self.tracer = Tracer(name, os.environ.get("TRACEPARENT"))
        self.tracer.root.attributes.update(attributes)
        context.bind(trace_id=self.tracer.trace_id, span_id=self.tracer.root.span_id)

    @property
    def trace_id(self) -> str:
        return self.tracer.trace_id

    @contextmanager
    def step(self, name: str, message: str = "") -> Iterator[dict]:
        """A step; the dict it yields is filled with what the step found, recorded on its span and event."""
        span = self.tracer.start(name)
        fields: dict = {}
        try:
            yield fields
        except BaseException as exc:
            error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            span.attributes.update({f"claude_docker.{k}": v for k, v in fields.items()})
            span.end(error=error)
            events.emit(f"{self.name}.{name}", error, level="error", outcome="error",
                        duration_ms=span.seconds * 1000, fields=fields or None)
            raise
        span.attributes.update({f"claude_docker.{k}": v for k, v in fields.items()
                                if isinstance(v, (str, int, float, bool))})
        span.end()
        events.emit(f"{self.name}.{name}", message or name, outcome="ok", duration_ms=span.seconds * 1000,
                    fields=fields or None)

    def finish(self, outcome: str, message: str, **fields) -> None:
        seconds = time.monotonic() - self.started
        self.tracer.root.end(error=message if outcome == "error" else None)
        events.emit(f"{self.name}.end", message, level="error" if outcome == "error" else "info", outcome=outcome,
                    duration_ms=seconds * 1000, fields=fields or None)
        if settings.enabled():
            try:
                self.tracer.write(settings.traces_file())
            except Exception:  # noqa: BLE001 - a trace that can't be stored never fails the operation it describes
                pass
        from claude_docker.obs.flush import spawn_background

        spawn_background()  # exported, and the alert rules evaluated, as after a session
