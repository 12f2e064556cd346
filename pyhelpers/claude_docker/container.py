"""The `docker run` command line of one session: hardening, mounts, environment, labels.

Pure: builds argv from a description of the session and never talks to Docker, so every flag is testable.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import namedtuple
from pathlib import Path

from claude_docker import engine, exitcodes, liveness
from claude_docker.envspec import ALLOWLIST, has_control
from claude_docker.errors import ToolError

TYPE_CHECKING = False  # not typing's import, on the hot path (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Mapping

    from claude_docker.options import RunOptions

LABEL_PREFIX = "io.claude-docker."
TOOL_LABEL = LABEL_PREFIX + "tool"
UID_LABEL = LABEL_PREFIX + "uid"
ROLE_LABEL = LABEL_PREFIX + "role"
NETWORK_LABEL = LABEL_PREFIX + "network"
DEPLOYMENT_LABEL = LABEL_PREFIX + "deployment"  # the rollout a session ran under (docs/ROLLOUT.md)

# Environment that reaches Claude Code as it would natively (names or fnmatch patterns); OTEL_* is for
# its own telemetry (CLAUDE_CODE_ENABLE_TELEMETRY).
PASSTHROUGH_ENV = ("TERM", "COLORTERM", "LANG", "LC_*", "ANTHROPIC_*", "CLAUDE_CODE_*", "OTEL_*")


class Mount(namedtuple("Mount", "source target read_only", defaults=(False,))):
    __slots__ = ()

    def args(self) -> list[str]:
        # Docker's API is JSON, which turns bytes that are not UTF-8 into U+FFFD: such a path would name
        # another directory (that docker might create). Refuse it plainly instead.
        for path in (self.source, self.target):
            if not _is_text(str(path)):
                raise ToolError(f"{os.fsencode(str(path)).decode('utf-8', 'backslashreplace')}: Docker can't mount a "
                                "path whose name is not valid UTF-8; rename it", exitcodes.TOOL_FAILED)
            if has_control(str(path)):  # docker's flag parser would answer with its usage text
                raise ToolError(f"{str(path)!r}: Docker can't mount a path with a control character (a newline, "
                                "a tab…) in its name; rename it", exitcodes.TOOL_FAILED)
        fields = ["type=bind", f"source={self.source}", f"target={self.target}"]
        if self.read_only:
            fields.append("readonly")
        return ["--mount", ",".join(_csv_field(f) for f in fields)]


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _csv_field(value: str) -> str:
    # `--mount` is parsed as one CSV record: quote fields holding commas or quotes.
    if any(c in value for c in ',"') or value[:1].isspace():
        return '"' + value.replace('"', '""') + '"'
    return value


# env: fixed values set inside the container; tty/stdin: attach a terminal / standard input;
# host_userns: opt this container out of the daemon's userns-remap, so uid/gid are the host's own;
# owner: the wrapper's own uid (not `uid`, which is 0 under rootless Docker) and place: its liveness.Place,
# both None for those of the process building the argv, which is the wrapper. network: the mode
# (CLAUDE_DOCKER_NETWORK, a label); join: the container whose network namespace the session shares instead
# (the egress sidecar, in allowlist mode).
SessionSpec = namedtuple("SessionSpec", "session_id name image slot project workdir home uid gid wrapper_pid"
                         " wrapper_start host started mounts env tty stdin host_userns owner place network join"
                         " deployment", defaults=(None, None, None, None, None))


def container_name(project: Path, session_id: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", project.name).strip("-.") or "root"
    return f"claude-docker-{slug[:40]}-{session_id[:8]}"


def passthrough_names(environ: Mapping[str, str], extra: tuple[str, ...]) -> list[str]:
    patterns = PASSTHROUGH_ENV + extra
    return sorted(n for n in environ if any(fnmatch.fnmatchcase(n, p) for p in patterns))


def labels(spec: SessionSpec) -> dict[str, str]:
    """Who owns the session (uid) and where its wrapper runs (host, boot, PID namespace): on a shared engine,
    `ps`, `cleanup` and `claude-dr` act on a container only by these (inventory.py)."""
    place = spec.place or liveness.here()
    return {
        TOOL_LABEL: "claude-docker",
        LABEL_PREFIX + "session": spec.session_id,
        LABEL_PREFIX + "project": str(spec.project),
        UID_LABEL: str(os.getuid() if spec.owner is None else spec.owner),
        LABEL_PREFIX + "wrapper-pid": str(spec.wrapper_pid),
        LABEL_PREFIX + "wrapper-start": spec.wrapper_start,
        LABEL_PREFIX + "host": spec.host,
        LABEL_PREFIX + "boot": place.boot,
        LABEL_PREFIX + "pidns": place.pidns,
        LABEL_PREFIX + "machine": place.machine,
        LABEL_PREFIX + "started": spec.started,
        LABEL_PREFIX + "slot": spec.slot,
        **({NETWORK_LABEL: spec.network} if spec.network else {}),
        **({DEPLOYMENT_LABEL: spec.deployment} if spec.deployment else {}),
    }


def run_argv(docker: str, spec: SessionSpec, opts: RunOptions, claude_args: list[str],
             environ: Mapping[str, str]) -> list[str]:
    argv = [docker, "run", "--rm", "--init", "--name", spec.name]
    if spec.stdin:
        argv.append("--interactive")
    if spec.tty:
        argv.append("--tty")
    for key, value in labels(spec).items():
        argv += ["--label", f"{key}={value}"]
    # The session's terminal output stays between the user and the container, not in daemon log files.
    argv += ["--log-driver", "none"]
    argv += ["--user", f"{spec.uid}:{spec.gid}"]
    if spec.host_userns:
        argv += ["--userns", "host"]
    argv += ["--cap-drop", "ALL"]
    for cap in opts.cap_add:
        argv += ["--cap-add", cap]
    if not opts.allow_new_privileges:
        argv += ["--security-opt", "no-new-privileges"]
    if opts.pids_limit:
        argv += ["--pids-limit", str(opts.pids_limit)]
    if opts.memory:
        argv += ["--memory", opts.memory]
    if opts.read_only:
        argv += ["--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,mode=1777"]
    if spec.join:
        argv += ["--network", engine.SHARED + spec.join]
    elif opts.network == ALLOWLIST:
        raise ValueError("allowlist mode needs the sidecar to join")  # a bug of the caller's, never the user's
    else:
        argv += ["--network", opts.network]
    for mount in spec.mounts:
        argv += mount.args()
    if opts.docker_socket:
        # The engine's own socket (DOCKER_HOST's, a rootless one), where the docker CLI inside looks for it.
        host_socket = engine.socket_path(environ)
        if host_socket is None:
            raise ToolError("CLAUDE_DOCKER_DOCKER_SOCKET=1 needs an engine on a local unix socket (DOCKER_HOST "
                            "unix://… or the default); this one is reached otherwise", exitcodes.BAD_SETTING)
        argv += Mount(Path(host_socket), Path(engine.DEFAULT_SOCKET)).args()
    # Values from our own environment go by name only, so secrets never show in `ps` output.
    for name in passthrough_names(environ, opts.extra_env):
        if name not in spec.env:
            argv += ["--env", name]
    for key, value in spec.env.items():
        argv += ["--env", f"{key}={value}"]
    argv += ["--workdir", str(spec.workdir)]
    argv += list(opts.extra_args)
    # Our own entrypoint: any image with `claude` on PATH works, whatever its ENTRYPOINT.
    argv += ["--entrypoint", "claude", spec.image]
    argv += claude_args
    return argv


def default_env(home: Path, config_dir: Path | None, environ: Mapping[str, str]) -> dict[str, str]:
    # The image's Claude Code is not the host's install: no updater, and no check of the host's
    # ~/.local/bin/claude ("missing or broken" on every start otherwise).
    env = {"HOME": str(home), "DISABLE_AUTOUPDATER": "1", "DISABLE_INSTALLATION_CHECKS": "1"}
    if config_dir is not None:
        env["CLAUDE_CONFIG_DIR"] = str(config_dir)
    if environ.get("USER"):
        env["USER"] = environ["USER"]
    return env
