"""`alert watch`: a pass at once, then whenever the metrics log or alerting.toml changes (polled twice a second),
when a pending alert's `for:` or an outbox retry is due, and every interval otherwise (time-based rules: no
success in an hour, a stale backup). One watcher per state dir; SIGTERM stops it after the pass in progress (the
shared service loop)."""

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


def _next_due() -> float:
    """When a pending alert's `for:` runs out, or an outbox entry's retry comes (inf: nothing waits)."""
    from claude_docker.alerting import dispatch, evaluate, run

    pending = [a["fires_at"] for a in evaluate.current() if a["fires_at"] is not None]
    return min([*pending, dispatch.next_due(run.configured()[0])])


def run(interval: float) -> int:
    from claude_docker.alerting import run as passes
    from claude_docker.obs import settings

    # Not the event log: every pass writes events (a bad config's line, a rule that fails), and would wake the
    # next one; the actions it holds for incidents wait for the interval.
    logs = (settings.metrics_file(), files.config_file())
    due = [float("inf")]  # read after each pass, not at each poll: the outbox can be large

    told: list[list[str]] = [[]]

    def cycle() -> bool:
        from claude_docker import ui

        report = passes.run()
        due[0] = _next_due()
        problems = report.get("problems", [])
        if problems != told[0]:  # a service's stderr is its journal: each problem once, not at every pass
            for problem in problems:
                ui.error(f"alert watch: {problem} (the defaults are used for it)")
            told[0] = problems
        return True  # (the pass ran, with the defaults for what could not be read)

    def wake() -> object:
        return (tuple(_signature(p) for p in logs), time.time() >= due[0])

    return loop.run("alert watch", cycle, interval=interval, retry=interval, max_backoff=interval, jitter=0.0,
                    wake=wake, lock_path=files.directory() / "watch.lock", busy=exitcodes.ALERT_BUSY, poll=POLL)
