"""One `claude` run, from preflight to exit status: sync in, run the container, sync out.

The docker CLI runs the session itself: it owns the terminal (raw mode, window-size changes) and proxies
signals to the container. This process stays its parent only to sync the config back when it ends.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from claude_docker import engine, envspec, exitcodes
from claude_docker.configsync import Staging, SyncIn, host_claude, sync_in, sync_out, sync_state
from claude_docker.container import Mount, SessionSpec, container_name, default_env, run_argv
from claude_docker.errors import ToolError
from claude_docker.obs import settings
from claude_docker.obs.sessionlog import SessionLog
from claude_docker.obs.tracing import SPAN_KIND_CLIENT
from claude_docker.liveness import here, host_name, process_start
from claude_docker.options import RunOptions
from claude_docker.paths import ClaudeHome, git_common_dir, home, project_root, state_dir
from claude_docker.sessiondir import SessionDir, all_sessions, interrupted, new_session_id

# Signals for Claude Code: passed to the docker CLI, which proxies them into the container. This process
# never dies of them, so that it can sync the session's config back when Claude Code has exited.
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)
# Python ignores these for itself; the child gets the defaults back, as subprocess would give it.
RESET_IN_CHILD = (signal.SIGPIPE, signal.SIGXFSZ)
# How long, and how often, to ask Docker whether the container started (for the startup latency).
STARTUP_POLL_SECONDS, STARTUP_POLL_INTERVAL = 120.0, 0.025


def _is_within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def guarded_paths(user_home: Path, claude: ClaudeHome) -> tuple[Path, ...]:
    """HOME, Claude's config and our state, as real paths: a symlinked HOME or a dotfiles-linked ~/.claude
    must not slip past a comparison of spellings."""
    return tuple(Path(os.path.realpath(p)) for p in (user_home, claude.config_dir, claude.claude_json, state_dir()))


def exposes_guarded(path: Path, guarded: tuple[Path, ...]) -> Path | None:
    """The guarded path a bind mount of `path` would expose: one inside it, or one it is inside of
    (HOME excepted for the latter: projects live in HOME)."""
    path = Path(os.path.realpath(path))
    for g in guarded:
        if _is_within(g, path) or (g != guarded[0] and _is_within(path, g)):
            return g
    return None


def check_project(project: Path, user_home: Path, claude: ClaudeHome) -> None:
    """Refuse project roots that are system directories, whose mount would expose or shadow the host's
    Claude state or ours, or that are or hold the user's sockets (tmux, ssh-agent, X11, D-Bus, gpg-agent)."""
    from claude_docker.paths import exposed_socket_dir, is_system_dir

    def refuse(why: str):
        raise ToolError(f"refusing to run in {project}: {why}; cd into a project directory", exitcodes.TOOL_FAILED)

    if is_system_dir(project, user_home):  # first: a system dir is no project even with HOME below it (/tmp)
        refuse("it is a system directory, not a project")
    exposed = exposes_guarded(project, guarded_paths(user_home, claude))
    if exposed is not None:
        refuse(f"mounting it would expose {exposed}, which a session must only see through claude-docker")
    socket = exposed_socket_dir(project, user_home)
    if socket is not None:
        refuse(f"mounting it would expose {socket[0]} {socket[1]}, through which a session could act on the host")


def mounted_common_dir(project: Path, user_home: Path, claude: ClaudeHome) -> Path | None:
    """A linked worktree's main git dir, which the session gets too, unless it would expose guarded state."""
    common = git_common_dir(project)
    if common is not None and not _is_within(common, project) \
            and exposes_guarded(common, guarded_paths(user_home, claude)) is None:
        return common
    return None


def plan_mounts(staging: Staging, synced: SyncIn, project: Path, opts: RunOptions, user_home: Path,
                common: Path | None) -> list[Mount]:
    """`common`: mounted_common_dir's answer for the project (worked out once per run)."""
    mounts = [Mount(src, dst) for src, dst in staging.staging_mounts()]
    mounts += [Mount(src, dst, read_only) for src, dst, read_only in synced.shared_dirs]
    mounts.append(Mount(Path(os.path.realpath(project)), project))
    if common is not None:
        mounts.append(Mount(common, common))
    if opts.protect_git:
        from claude_docker.boundary import git

        # Same path inside and out: the project (or worktree) mount above holds these.
        mounts += [Mount(Path(os.path.realpath(p)), p, read_only) for p, read_only in git.mounts(project, common)]
    gitconfig = user_home / ".gitconfig"
    if opts.mount_gitconfig and gitconfig.is_file():
        mounts.append(Mount(Path(os.path.realpath(gitconfig)), gitconfig, read_only=True))
    # Docker creates missing mount points as root inside the source of an enclosing bind mount;
    # make them ourselves in the staged trees so the staging dir stays ours to delete.
    for mount in mounts:
        for src, dst in staging.staging_mounts():
            if mount.target != dst and _is_within(mount.target, dst):
                point = src / mount.target.relative_to(dst)
                if mount.source.is_dir():
                    point.mkdir(parents=True, exist_ok=True)
                else:
                    point.parent.mkdir(parents=True, exist_ok=True)
                    point.touch(exist_ok=True)
    seen, unique = set(), []
    for mount in mounts:
        if mount.target not in seen:
            seen.add(mount.target)
            unique.append(mount)
    return unique


@contextmanager
def _recorded_failure(log: SessionLog, docker: bool):
    """A ToolError before Claude Code starts still ends the run's trace and counts as an outcome."""
    try:
        yield
    except ToolError as exc:
        log.failed_before_start(exc.message, docker)
        raise


@contextmanager
def _as_tool_error(what: str):
    """An OSError here (a full disk, a read-only state dir) is one line and status 125, not a traceback."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise ToolError(f"{what}: {exc.strerror or exc}{where}", exitcodes.TOOL_FAILED) from None


def _resource_attributes(existing: str, values: dict) -> str:
    """OTEL_RESOURCE_ATTRIBUTES for Claude Code's own telemetry: the user's, plus what ties it to this run."""
    ours = ",".join(f"{k}={quote(os.fsencode(str(v)), safe='')}" for k, v in values.items())
    return f"{existing},{ours}" if existing else ours


def run(claude_args: list[str]) -> int:
    # Every setting, before anything starts: one refused later (the backup interval, say) would stop this
    # process with Claude Code running unsupervised.
    envspec.check_all()
    log = SessionLog()
    with _recorded_failure(log, docker=False):
        opts = RunOptions.from_env()
    slot, image = opts.pick_slot()
    preflight = log.step("preflight")
    with _recorded_failure(log, docker=True):
        mapping = engine.preflight(image, opts.network)
        docker = engine.docker_cli()
    preflight.end()
    # Rootless Docker maps container root to the user; any other uid would not own the staged files.
    uid, gid = (0, 0) if mapping == "rootless" else (os.getuid(), os.getgid())

    user_home = home()
    claude = ClaudeHome.from_env()
    with _recorded_failure(log, docker=False), _as_tool_error("the current directory is gone"):
        cwd = Path(os.getcwd())
    project = project_root(cwd)
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

    sid = new_session_id()
    log.begin(sid, str(project), slot, image)
    pid = os.getpid()
    header = {**here().fields(), "wrapper_pid": pid, "wrapper_start": process_start(pid)}
    with _recorded_failure(log, docker=False), _as_tool_error("cannot create the session's state"):
        session = SessionDir.create(sid, header)
    staging = Staging(claude, user_home, session)
    step = log.step("sync_in")
    try:
        with _recorded_failure(log, docker=False), _as_tool_error("cannot stage the session's config"):
            synced = sync_in(staging, cwd)
            common = mounted_common_dir(project, user_home, claude)
            mounts = plan_mounts(staging, synced, project, opts, user_home, common)
    except BaseException:
        session.remove()
        raise
    log.synced("in", step, tracked=len(synced.tracked))
    for warning in synced.warnings:
        print(f"claude-docker: warning: {warning}", file=sys.stderr)
    container = log.step("container", kind=SPAN_KIND_CLIENT)
    env = default_env(user_home, claude.config_dir if claude.custom else None, os.environ)
    env["TRACEPARENT"] = log.traceparent(container)
    env["OTEL_RESOURCE_ATTRIBUTES"] = _resource_attributes(os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""), {
        "claude_docker.session": sid, "claude_docker.trace_id": log.tracer.trace_id, "claude_docker.slot": slot,
        "claude_docker.project": project})
    spec = SessionSpec(
        session_id=sid, name=container_name(project, sid), image=image, slot=slot, project=project, workdir=cwd,
        home=user_home, uid=uid, gid=gid, wrapper_pid=pid, wrapper_start=header["wrapper_start"],
        host=host, started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), mounts=tuple(mounts), env=env,
        tty=sys.stdin.isatty() and sys.stdout.isatty(),
        # A terminal on stdin with output redirected: give Claude Code no stdin, as `claude -p … > out` natively
        # has nothing to read (a piped-but-silent stdin would make it wait).
        stdin=not sys.stdin.isatty() or sys.stdout.isatty(),
        host_userns=mapping == "userns",
    )
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
    except ToolError:
        session.remove()
        raise
    return _supervise(argv, session, manifest, log, container, backup_due)


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


def _wait_for_start(child: int, name: str) -> tuple[float | None, int | None]:
    """Poll until the container runs (its StartedAt, from Docker) or the docker CLI exits (its wait status)."""
    sock = engine.socket_path() if settings.enabled() else None
    deadline = time.time() + STARTUP_POLL_SECONDS
    while sock and time.time() < deadline:
        pid, wait_status = os.waitpid(child, os.WNOHANG)
        if pid:
            return None, wait_status
        started = engine.container_started_at(sock, name)
        if started:
            return started, None
        time.sleep(STARTUP_POLL_INTERVAL)
    return None, None


def _supervise(argv: list[str], session: SessionDir, manifest: dict, log: SessionLog, container,
               backup_due: bool) -> int:
    child = 0
    early: list[int] = []  # signals that came before the docker CLI existed

    def forward(signum, _frame):
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
            child = os.posix_spawn(argv[0], argv, os.environ, setsigdef=RESET_IN_CHILD)
        except OSError as exc:
            session.remove()
            log.failed_before_start(f"cannot start {argv[0]}: {exc.strerror}", docker=True)
            raise ToolError(f"cannot start {argv[0]}: {exc.strerror}", exitcodes.TOOL_FAILED) from None
        for signum in early:
            os.kill(child, signum)
        started_at, wait_status = _wait_for_start(child, manifest["container"])
        if wait_status is not None:
            child = 0  # reaped: its pid may be reused, no signal may go to it now
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
            _, wait_status = os.waitpid(child, 0)
        child = 0
        status = os.waitstatus_to_exitcode(wait_status)
        status = 128 - status if status < 0 else status
        if not _container_gone(manifest["container"]):
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
            session.update(state="sync-failed", error=exc.message, exit_status=status)
            log.synced("out", step, error=exc.message)
            log.finish(exitcodes.SYNC_FAILED, error=exc.message)
            from claude_docker.backup.triggers import check_config

            check_config(host_claude(manifest), "after a failed sync")
            raise ToolError(f"{exc.message}; the session's config is kept in {session.path}: "
                            "run `claude-docker cleanup` to retry", exitcodes.SYNC_FAILED) from None
        log.synced("out", step, report)
        for line in report.messages():
            print(f"claude-docker: {line}", file=sys.stderr)
        session.remove()
        log.finish(status)
        return status
    finally:
        if signal.SIGALRM in previous:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for s, handler in previous.items():
            signal.signal(s, handler)


def _container_gone(name: str) -> bool:
    """After the docker CLI exited: is the session's container gone (or stopped) too? A container that
    still runs is stopped now; True once it no longer runs. Unknowable (remote daemon): assume gone."""
    sock = engine.socket_path()
    if sock is None:
        return True
    try:
        status, body = engine.request(sock, f"/containers/{engine.quote_ref(name)}/json", timeout=2.0)
    except OSError:
        return True
    if status == 404 or b'"Running":true' not in body.replace(b" ", b""):
        return True
    return engine.stop_container(sock, name)
