"""What one `claude` run records about itself: a trace with a span per step, events, and metric
observations, all carrying the run's trace id. Everything here is a cheap append; the export happens
in the background flush started by `finish`.
"""

from __future__ import annotations

import os
import time

from claude_docker import exitcodes
from claude_docker.obs import context, events, settings
from claude_docker.obs.catalog import observe
from claude_docker.obs.tracing import SPAN_KIND_INTERNAL, Span, Tracer

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.rollout.session import Assigned  # (a type only: obs imports no capability)

OUTCOMES = {0: "ok", exitcodes.TOOL_FAILED: "tool_failed", exitcodes.SYNC_FAILED: "sync_failed", 130: "interrupted",
            143: "interrupted", 129: "interrupted"}


def outcome_of(status: int) -> str:
    return OUTCOMES.get(status, "error")


class SessionLog:
    def __init__(self) -> None:
        self.started = time.time()
        self.tracer = Tracer("claude", os.environ.get("TRACEPARENT"))
        self.slot = ""
        self.startup_seconds: float | None = None
        # The rollout's view of this session (rollout/session.Assigned): classifies and records its end.
        self.rollout: Assigned | None = None
        context.bind(trace_id=self.tracer.trace_id, span_id=self.tracer.root.span_id)

    def step(self, name: str, kind: int = SPAN_KIND_INTERNAL) -> Span:
        return self.tracer.start(name, kind=kind)

    def traceparent(self, span: Span) -> str:
        return self.tracer.traceparent(span)

    def drawn(self, slot: str, deployment: str | None) -> None:
        """The slot (and rollout) this run was drawn for, on its events from now on, a failure before it begins
        included. (Its session metrics take the slot at `begin`: a run that never began has none.)"""
        context.bind(slot=slot, deployment=deployment)

    def begin(self, session: str, project: str, slot: str, image: str, deployment: str | None = None) -> None:
        self.slot = slot
        context.bind(session=session, project=project, slot=slot, deployment=deployment)
        self.tracer.root.attributes.update({"claude_docker.session": session, "claude_docker.slot": slot,
                                            "claude_docker.project": context.clean_text(project)[0],
                                            "container.image.name": image})

    def synced(self, direction: str, span: Span, report=None, tracked: int = 0, error: str | None = None) -> None:
        span.end(error=error)
        fields: dict[str, object] = {"direction": direction}
        if report is not None:
            fields.update(files=report.files, bytes=report.bytes, merges=report.merges,
                          conflicts=len(report.conflicts), quarantined=len(report.quarantined))
            for _ in report.conflicts:
                observe("claude_docker_sync_conflicts_total", 1)
            for _ in report.quarantined:
                observe("claude_docker_sync_quarantined_total", 1)
            if report.bytes:
                observe("claude_docker_sync_bytes_total", report.bytes)
        else:
            fields["files"] = tracked
        span.attributes.update({f"claude_docker.sync.{k}": v for k, v in fields.items() if k != "direction"})
        if error:
            observe("claude_docker_sync_failures_total", 1, direction=direction)
        observe("claude_docker_sync_duration_seconds", span.seconds, direction=direction)
        events.emit(f"sync.{direction}", error or f"config synced {direction}", level="error" if error else "info",
                    outcome="error" if error else "ok", duration_ms=span.seconds * 1000, fields=fields)

    def container_started(self, started_at: float | None, fallback: float) -> None:
        """`started_at`: the container's own start time from Docker, when it was seen running; else the
        time it was last looked for."""
        self.startup_seconds = (started_at if started_at else fallback) - self.started
        observe("claude_docker_session_startup_seconds", max(self.startup_seconds, 0.0), slot=self.slot)
        events.emit("session.start", "Claude Code started in its container", outcome="ok",
                    duration_ms=self.startup_seconds * 1000)

    def docker_refused(self) -> None:
        """`docker run` exited 125 before its container was ever seen running: no session started (its own
        message went to the terminal; session.end follows with the status)."""
        observe("claude_docker_docker_errors_total", 1, operation="run")
        events.emit("docker.error", "docker run refused to start the session's container (status 125)",
                    level="error", outcome="tool_failed")

    def failed_before_start(self, message: str, docker: bool) -> None:
        if docker:
            observe("claude_docker_docker_errors_total", 1, operation="preflight")
        events.emit("docker.error" if docker else "session.failed", message, level="error", outcome="tool_failed")
        self.finish(exitcodes.TOOL_FAILED, error=message)

    def finish(self, status: int, error: str | None = None) -> None:
        outcome = outcome_of(status)
        duration = time.time() - self.started
        if self.slot:
            observe("claude_docker_session_duration_seconds", duration, slot=self.slot)
        observe("claude_docker_sessions_total", 1, slot=self.slot or "none", outcome=outcome)
        if status == 0:
            observe("claude_docker_last_success_timestamp_seconds", time.time())
        fields: dict[str, object] = {"exit_status": status}
        cls = self.rollout.classify(status) if self.rollout is not None else None
        if cls:
            fields["rollout_class"] = cls
        events.emit("session.end", error or f"Claude Code exited with status {status}",
                    level="info" if outcome in ("ok", "error", "interrupted") else "error", outcome=outcome,
                    duration_ms=duration * 1000, fields=fields)
        if self.rollout is not None and cls:
            self.rollout.ended(cls, self.startup_seconds)
        self.tracer.root.attributes["process.exit.code"] = status
        self.tracer.root.end(error=error if outcome in ("tool_failed", "sync_failed") else None)
        if settings.enabled():
            try:
                self.tracer.write(settings.traces_file())
            except Exception:  # noqa: BLE001 - a trace that can't be stored never fails the session it describes
                pass
        from claude_docker.obs.flush import spawn_background

        spawn_background()

