"""One `claude` run, from preflight to exit status: sync in, run the container, sync out (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from claude_docker import engine, envspec, exitcodes
from claude_docker.container import SessionSpec, container_name, labels, run_argv
from claude_docker.errors import ToolError
from claude_docker.launcher import egress, identity, imagechoice
from claude_docker.launcher.environment import session_env
from claude_docker.launcher.exposure import check_project, mounted_common_dir
from claude_docker.launcher.mounts import plan_mounts
from claude_docker.launcher.staging import Staging, sync_in, sync_state
from claude_docker.launcher.supervise import supervise
from claude_docker.liveness import here, host_name, process_start
from claude_docker.obs.sessionlog import SessionLog
from claude_docker.obs.tracing import SPAN_KIND_CLIENT
from claude_docker.options import RunOptions
from claude_docker.paths import ClaudeHome, home, project_root
from claude_docker.sessiondir import SessionDir, all_sessions, interrupted, new_session_id

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.rollout.session import Assigned


@contextmanager
def _recorded_failure(log: SessionLog, docker: bool):
    """A ToolError before Claude Code starts still ends the run's trace and counts as an outcome."""
    try:
        yield
    except ToolError as exc:
        log.failed_before_start(exc.message, docker)
        raise


@contextmanager
def _counted_if_the_image(log: SessionLog, assigned: Assigned | None):
    """A session counts for the rollout it was drawn for once its container is being started (supervise). Before
    that, only a missing image says something of the image; a refusal of the project dir, a broken config, an
    unreachable engine or a sidecar that won't start say nothing of it, and are not counted."""
    try:
        yield
    except engine.ImageMissing:
        log.rollout = assigned
        raise


@contextmanager
def _as_tool_error(what: str):
    """An OSError here (a full disk, a read-only state dir) is one line and status 125, not a traceback."""
    try:
        yield
    except OSError as exc:
        from claude_docker.errors import describe

        raise ToolError(f"{what}: {describe(exc)}", exitcodes.TOOL_FAILED) from None


def run(claude_args: list[str]) -> int:
    # Every setting, before anything starts: one refused later (the backup interval, say) would stop this
    # process with Claude Code running unsupervised.
    envspec.check_all()
    log = SessionLog()
    with _recorded_failure(log, docker=False):
        opts = RunOptions.from_env()
        if opts.network == envspec.ALLOWLIST:
            egress.check(opts)
    with _recorded_failure(log, docker=False), _as_tool_error("the current directory is gone"):
        cwd = Path(os.getcwd())
    project = project_root(cwd)
    with _recorded_failure(log, docker=False):
        slot, image, chosen, assigned = imagechoice.choose(opts, project)
    deployment = assigned.deployment if assigned else None
    log.drawn(slot, deployment)
    preflight = log.step("preflight")
    with _recorded_failure(log, docker=True), _counted_if_the_image(log, assigned):
        mapping = imagechoice.preflight(image, chosen, opts.network)
        docker = engine.docker_cli()
    preflight.end()
    # Rootless Docker maps container root to the user; any other uid would not own the staged files.
    uid, gid = (0, 0) if mapping == "rootless" else (os.getuid(), os.getgid())

    user_home = home()
    claude = ClaudeHome.from_env()
    with _recorded_failure(log, docker=False):
        check_project(project, user_home, claude)

    from claude_docker.backup.triggers import at_start

    with _recorded_failure(log, docker=False):
        backup_due = at_start(claude)  # a broken config stops the run here, before anything is staged
    host = host_name()
    stale = interrupted(all_sessions(), host)
    if stale:
        print(f"claude-docker: {len(stale)} interrupted session(s) not yet synced back: "
              "run `claude-docker cleanup`", file=sys.stderr)
    from claude_docker.alerting import notice

    told = notice.take()
    if told:
        print(told, file=sys.stderr)

    sid = new_session_id()
    log.begin(sid, str(project), slot, image, deployment)
    pid = os.getpid()
    header = {**here().fields(), "wrapper_pid": pid, "wrapper_start": process_start(pid)}
    with _recorded_failure(log, docker=False), _as_tool_error("cannot create the session's state"):
        session = SessionDir.create(sid, header)
    # Who the container is, known now: the sidecar (allowlist mode) carries the same labels.
    spec = SessionSpec(
        session_id=sid, name=container_name(project, sid), image=image, slot=slot, project=project, workdir=cwd,
        home=user_home, uid=uid, gid=gid, wrapper_pid=pid, wrapper_start=header["wrapper_start"],
        host=host, started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), mounts=(), env={},
        tty=sys.stdin.isatty() and sys.stdout.isatty(),
        # A terminal on stdin with output redirected: give Claude Code no stdin, as `claude -p … > out` natively
        # has nothing to read (a piped-but-silent stdin would make it wait).
        stdin=not sys.stdin.isatty() or sys.stdout.isatty(),
        host_userns=mapping == "userns", network=opts.network, deployment=deployment,
    )
    way_out = None
    if opts.network == envspec.ALLOWLIST:
        way_out = egress.Egress(session.path, spec.name)
        try:
            with _recorded_failure(log, docker=True):
                way_out.begin(sid, log.tracer.trace_id, log.tracer.root.span_id, uid, gid, spec.host_userns,
                              labels(spec))
        except BaseException:
            way_out.finish()
            session.remove()
            raise
    try:
        return _staged_run(log, opts, session, spec, way_out, claude, user_home, cwd, project, header, docker,
                           claude_args, backup_due, assigned)
    except BaseException:
        if way_out is not None:
            way_out.finish()
        raise


def _staged_run(log: SessionLog, opts: RunOptions, session: SessionDir, spec: SessionSpec, way_out,
                claude: ClaudeHome, user_home: Path, cwd: Path, project: Path, header: dict, docker: str,
                claude_args: list[str], backup_due: bool, assigned: Assigned | None) -> int:
    """From sync in to the session's end, with the egress proxy and sidecar (if any) starting meanwhile."""
    sid, image, slot, uid, gid = spec.session_id, spec.image, spec.slot, spec.uid, spec.gid
    staging = Staging(claude, user_home, session)
    step = log.step("sync_in")
    try:
        with _recorded_failure(log, docker=False), _as_tool_error("cannot stage the session's config"):
            synced = sync_in(staging, cwd)
            common = mounted_common_dir(project, user_home, claude)
            mounts = plan_mounts(staging, synced, project, opts, user_home, common)
            mounts += identity.mounts(session.path, uid, gid, user_home)
    except BaseException:
        session.remove()
        raise
    log.synced("in", step, tracked=len(synced.tracked))
    for warning in synced.warnings:
        print(f"claude-docker: warning: {warning}", file=sys.stderr)
    container = log.step("container", kind=SPAN_KIND_CLIENT)
    env = session_env(user_home, claude, log.traceparent(container), {
        "claude_docker.session": sid, "claude_docker.trace_id": log.tracer.trace_id, "claude_docker.slot": slot,
        "claude_docker.project": project})
    if way_out is not None:
        env.update(way_out.env())
    spec = spec._replace(mounts=tuple(mounts), env=env, join=way_out.network() if way_out else None)
    try:
        with _recorded_failure(log, docker=False):
            argv = run_argv(docker, spec, opts, claude_args, dict(os.environ))
    except ToolError:
        session.remove()
        raise
    container.attributes.update({"container.name": spec.name, "container.image.name": image})
    manifest = {
        "session": sid, "state": "running", **header, "container": spec.name, "image": image, "slot": slot,
        "project": str(project), "cwd": str(cwd), "started": spec.started, "trace_id": log.tracer.trace_id,
        **({"deployment": spec.deployment} if spec.deployment else {}),
        **sync_state(staging, synced),
    }
    try:
        with _recorded_failure(log, docker=False), _as_tool_error("cannot take the project's snapshot"):
            manifest.update(_guard_snapshots(opts, project, common, session))
    except ToolError:
        session.remove()
        raise
    try:
        with _recorded_failure(log, docker=False), _as_tool_error("cannot record the session"):
            session.write_manifest(manifest)
        if way_out is not None:
            with _recorded_failure(log, docker=True):
                way_out.ready()
    except ToolError:
        session.remove()
        raise
    log.rollout = assigned  # from here on the session says something of its image (_counted_if_the_image)
    return supervise(argv, session, manifest, log, container, backup_due, way_out)


def _guard_snapshots(opts: RunOptions, project: Path, common: Path | None, session: SessionDir) -> dict:
    """What the end of the session compares the project's self-running places with (boundary/)."""
    guards = {}
    if opts.protect_project:
        from claude_docker.boundary.project import MAX_DIRS, MAX_FILES, snapshot

        guards["project_guard"] = snapshot(project, session.path / "project-base")
        if guards["project_guard"] is None:
            print(f"claude-docker: warning: a .claude/ folder of {project} holds more than {MAX_FILES} files: its "
                  "commands and settings are not reviewed after this session", file=sys.stderr)
        elif not guards["project_guard"]["whole"]:
            print(f"claude-docker: warning: {project} has more than {MAX_DIRS} folders: only the .claude/ and "
                  ".mcp.json of the first ones are reviewed after this session", file=sys.stderr)
    if opts.protect_git:
        from claude_docker.boundary import git

        guards["git_guard"] = git.snapshot(project, common)
    return guards
