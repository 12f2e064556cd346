"""The session's life: the docker CLI started and waited for, signals forwarded to it, then the sync back.

The docker CLI runs the session itself: it owns the terminal (raw mode, window-size changes) and proxies
signals to the container. This process stays its parent only to sync the config back when it ends, and
never dies of a signal meanwhile.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.launcher.dockerstate import container_gone, wait_for_start
from claude_docker.launcher.staging import host_claude
from claude_docker.launcher.syncout import prepare, sync_out

DOCKER_REFUSED = 125  # docker run's own status when the daemon or the CLI refused to run the container

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.launcher.egress import Egress
    from claude_docker.obs.sessionlog import SessionLog
    from claude_docker.sessiondir import SessionDir

# Signals for Claude Code: passed to the docker CLI, which proxies them into the container. This process
# never dies of them, so that it can sync the session's config back when Claude Code has exited.
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)
# Python ignores these for itself; the child gets the defaults back, as subprocess would give it.
RESET_IN_CHILD = (signal.SIGPIPE, signal.SIGXFSZ)


def supervise(argv: list[str], session: SessionDir, manifest: dict, log: SessionLog, container,
              backup_due: bool, egress: Egress | None = None) -> int:
    child = 0
    early: list[int] = []  # signals that came before the docker CLI existed

    def forward(signum, _frame):
        if log.rollout is not None:
            log.rollout.signalled = True  # the session was asked to stop: its end is no image's failure
        if not child:
            early.append(signum)
            return
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    # A Python handler (not SIG_IGN): exec resets it, so the docker CLI gets the default dispositions.
    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        # posix_spawn + waitpid rather than subprocess: its import is ~8 ms of this hot path's budget.
        try:
            environ = egress.docker_env(os.environ) if egress else os.environ
            child = os.posix_spawn(argv[0], argv, environ, setsigdef=RESET_IN_CHILD)
        except OSError as exc:
            session.remove()
            log.failed_before_start(f"cannot start {argv[0]}: {exc.strerror}", docker=True)
            raise ToolError(f"cannot start {argv[0]}: {exc.strerror}", exitcodes.TOOL_FAILED) from None
        for signum in early:
            os.kill(child, signum)
        if egress:
            egress.watch()
        started_at, wait_status = wait_for_start(child, manifest["container"])
        if wait_status is not None:
            child = 0  # reaped: its pid may be reused, no signal may go to it now
        if started_at is None and wait_status is not None and os.waitstatus_to_exitcode(wait_status) == DOCKER_REFUSED:
            log.docker_refused()  # a session that never started is no session.start
        else:
            # Not seen running (it ended first, or is still not up after the poll gave up): now is a bound.
            log.container_started(started_at, time.time())
        from claude_docker.backup.triggers import interval, spawn_full_backup

        if backup_due:
            spawn_full_backup()  # while the user works: the start never waits for it
        every = interval()
        if every:
            # A session longer than the interval still gets its hourly backups (waitpid resumes after).
            previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, lambda _s, _f: spawn_full_backup())
            signal.setitimer(signal.ITIMER_REAL, every, every)
        if wait_status is None:
            prepare()  # with Claude Code up, before the wait: none of it is left for the session's end
            _, wait_status = os.waitpid(child, 0)
        child = 0
        if egress:
            egress.stop()  # ends while the config syncs back; `finish` below waits for it
        status = os.waitstatus_to_exitcode(wait_status)
        status = 128 - status if status < 0 else status
        if not container_gone(manifest["container"]):
            # The docker CLI died (killed) with Claude Code still running: syncing now would take a snapshot
            # of a live session. Leave it whole for `cleanup`, which stops it first.
            log.finish(exitcodes.SYNC_FAILED, error="the docker CLI exited while the container still ran")
            raise ToolError(f"the docker CLI exited while the session's container {manifest['container']} still "
                            "runs; run `claude-docker cleanup` to stop it and sync its config back",
                            exitcodes.SYNC_FAILED)
        container.end(**{"process.exit.code": status})
        step = log.step("sync_out")
        try:
            report = sync_out(session, manifest)
        except ToolError as exc:
            try:
                session.update(state="sync-failed", error=exc.message, exit_status=status)
            except (OSError, ValueError):
                pass  # (a full disk) still "running" with its wrapper gone: cleanup retries it all the same
            log.synced("out", step, error=exc.message)
            log.finish(exitcodes.SYNC_FAILED, error=exc.message)
            from claude_docker.backup.triggers import check_config

            check_config(host_claude(manifest), "after a failed sync")
            raise ToolError(f"{exc.message}; the session's config is kept in {session.path}: "
                            "run `claude-docker cleanup` to retry", exitcodes.SYNC_FAILED) from None
        log.synced("out", step, report)
        for line in report.messages():
            print(f"claude-docker: {line}", file=sys.stderr)
        from claude_docker.keptaside import after_sync

        after_sync(report)  # prune what is kept aside if the session added to it
        _egress_end(egress, manifest)  # before the session dir, which holds what the proxy denied, goes
        session.remove()
        log.finish(status)
        return status
    finally:
        _egress_end(egress, manifest)
        if signal.SIGALRM in previous:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for s, handler in previous.items():
            signal.signal(s, handler)


def _egress_end(egress: Egress | None, manifest: dict) -> None:
    """The proxy and sidecar gone, and what was denied told, once (the end of a run, whichever way it ends)."""
    if egress:
        egress.finish()
        for line in egress.summary_lines(manifest["session"]):
            print(f"claude-docker: {line}", file=sys.stderr)
