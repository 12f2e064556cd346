"""`alert watch`: a pass at once, then whenever the metrics or event log changes (polled twice a second), when a
pending alert's `for:` is due, and every interval otherwise (time-based rules: no success in an hour, a stale
backup). One watcher per state dir; SIGTERM stops it after the pass in progress (the shared service loop)."""

from __future__ import annotations

import os
import time

from claude_docker import exitcodes, loop
from claude_docker.alerting import files

POLL = 0.5


def _signature(path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _due(now: float) -> bool:
    """A pending alert whose `for:` has run out, or an outbox entry whose retry time has come."""
    from claude_docker.alerting import evaluate, outbox

    if any(a["fires_at"] is not None and a["fires_at"] <= now for a in evaluate.current()):
        return True
    return outbox.next_due() <= now


def run(interval: float) -> int:
    from claude_docker.alerting import run as passes
    from claude_docker.obs import settings

    logs = (settings.metrics_file(), settings.events_file(), files.config_file())

    def cycle() -> bool:
        from claude_docker import ui

        report = passes.run()
        for problem in report.get("problems", []):  # a service's stderr is its journal: one line each, each pass
            ui.error(f"alert watch: {problem}")
        return not report.get("problems")

    def wake() -> object:
        return (tuple(_signature(p) for p in logs), _due(time.time()) and time.monotonic())

    return loop.run("alert watch", cycle, interval=interval, retry=interval, max_backoff=interval, jitter=0.0,
                    wake=wake, lock_path=files.directory() / "watch.lock", busy=exitcodes.ALERT_BUSY, poll=POLL)
