"""The smoke ladder: rungs a broken image cannot climb, each with its own one-line verdict (docs/ROLLOUT.md).

  image      it is on this engine (never pulled) and pinned to its ID: every later rung runs the ID, so a
             re-tag meanwhile changes nothing
  start      a container of it starts as the host uid:gid with the session's hardening (container.run_argv's
             flags, no network) running `claude --version`, and does not die by a signal
  version    that `claude --version` exits 0 and prints a version (an image without `claude` fails here)
  state      `claude -p` against the stand-in (standin.py) writes its state under a fresh HOME: an unwritable
             HOME makes Claude Code exit 0 having done nothing
  roundtrip  a `claude -p` session through the whole wrapper (sync in, container, sync out) with a throwaway
             HOME and state dir, answered by the stand-in, its transcript back on the host

It stops at the first failure: the rungs after it are not run. What it starts goes after it, containers by
their id and temporary folders, whether it ends, fails, is out of time or is stopped (Ctrl-C, SIGTERM, SIGHUP);
the user's own config, state and logs are neither read nor written. What the image prints is kept in files and
read to a bound: an image that floods its output, or never ends, costs neither memory nor a hung ladder.
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NamedTuple

from claude_docker import engine, redact
from claude_docker.container import LABEL_PREFIX, ROLE_LABEL, Mount, SessionSpec, default_env, run_argv
from claude_docker.errors import ToolError
from claude_docker.rollout.standin import StandIn


class Rung(NamedTuple):
    name: str
    passed: bool | None  # None: not run (an earlier rung failed)
    detail: str  # one line, safe to print


RUNGS = ("image", "start", "version", "state", "roundtrip")

DOCKER_TIMEOUT = 30.0  # one docker command that starts nothing (inspect, create, rm)
START_TIMEOUT = 120.0  # `claude --version` in a container (a cold page cache on a large image is slow)
STATE_TIMEOUT = 120.0  # one `claude -p` against the stand-in
ROUNDTRIP_TIMEOUT = 180.0  # a whole wrapped session: sync in, container, sync out
STOP_GRACE = 30.0  # how long the wrapper gets to stop its session when the round trip is out of time
KEEP_OUTPUT = 64 << 10  # of what a container or the wrapper printed: this much of its start and of its end

ROLE = "smoke"  # the role label of the ladder's own containers: not sessions for `ps`; `cleanup` removes
# one whose ladder was killed, as an orphan
REPLY = "claude-docker smoke ladder: the stand-in answered"
FAKE_KEY = "sk-claude-docker-smoke-not-a-key"  # the stand-in takes any key: no real one is ever passed
VERSION = re.compile(r"\d+\.\d+\.\d+")


class _Failed(Exception):
    """A rung's failure; its one argument is the verdict."""


class _Ran(NamedTuple):
    status: int  # the container's exit status
    error: str  # docker's, when it could not start the process
    oom: bool
    user: str  # Config.User: who it ran as
    out: str
    err: str


def run(image: str, on_rung: Callable[[Rung], None] | None = None, *, until: str = RUNGS[-1],
        seed: dict[str, bytes] | None = None) -> tuple[str | None, list[Rung]]:
    """(the image's ID "sha256:…", or None when the image rung failed; the rungs up to `until`, in order).
    `on_rung` is called with each rung as it is decided, the ones not run included. `seed`: files put in the
    state rung's fresh `~/.claude/` (relative path -> content) before it runs: GitOps' check of a new config."""
    rungs: list[Rung] = []
    with ExitStack() as cleanup, _stopped_as_interrupt():
        climb = _Climb(image, cleanup, seed or {})
        for name in RUNGS[:RUNGS.index(until) + 1]:
            if rungs and not rungs[-1].passed:
                rung = Rung(name, None, "not run: an earlier rung failed")
            else:
                try:
                    rung = Rung(name, True, getattr(climb, name)())
                except _Failed as exc:
                    rung = Rung(name, False, str(exc))
                rung = rung._replace(detail=redact.printable(redact.text(rung.detail)))
            rungs.append(rung)
            if on_rung is not None:
                on_rung(rung)
    return climb.image_id, rungs


@contextmanager
def _stopped_as_interrupt():
    """SIGTERM and SIGHUP (a closed terminal, `timeout`, a CI cancel) end the ladder as Ctrl-C does: by an
    exception, so that what it started is removed on the way out. A caller that handles them itself (the GitOps
    loop, which finishes its cycle first) keeps its own handlers."""
    def stop(_signum, _frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)
                if signal.getsignal(s) in (signal.SIG_DFL, signal.SIG_IGN, None)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class _Climb:
    """One ladder's state: the pinned ID, what the start rung saw, the stand-in, the temporary folders."""

    def __init__(self, image: str, cleanup: ExitStack, seed: dict[str, bytes]) -> None:
        self.ref = image  # as the caller named it
        self.cleanup = cleanup
        self.seed = seed
        self.image_id: str | None = None
        self.docker = ""
        self.mapping = "direct"
        self.uid, self.gid = os.getuid(), os.getgid()
        self.version_run: _Ran | None = None
        self.standin: StandIn | None = None
        self._scratch: Path | None = None

    # -- the rungs --------------------------------------------------------
    def image(self) -> str:
        try:
            self.docker = engine.docker_cli()
        except ToolError as exc:
            raise _Failed(exc.message) from None
        if not self.ref.strip():
            raise _Failed("no image named (the name is empty)")
        found = self._docker("image", "inspect", "--format", "{{.Id}}", "--", self.ref)
        if found.returncode != 0:
            if "no such image" in found.stderr.lower():
                raise _Failed(f"{self.ref} is not on this engine (the ladder never pulls): build or pull it first")
            raise _Failed(f"cannot inspect {self.ref}: {_reason(found)}")
        self.image_id = found.stdout.strip()
        info = self._docker("info", "--format", "{{json .SecurityOptions}}")
        try:
            self.mapping = engine.uid_mapping({"SecurityOptions": json.loads(info.stdout)})
        except ValueError:
            raise _Failed(f"cannot ask the engine how it maps users: {_reason(info)}") from None
        if self.mapping == "rootless":  # rootless Docker maps container root to the user, as sessions run
            self.uid = self.gid = 0
        return f"{self.ref} is here, pinned to {self.image_id}"

    def start(self) -> str:
        ran = self.version_run = self._contained(["--version"], self._folder("version"), "none", {}, START_TIMEOUT)
        who = f"{self.uid}:{self.gid}"
        if ran.user != who:
            raise _Failed(f"the container ran as {ran.user or 'the image user'}, not as {who}")
        if ran.status in (126, 127):
            return f"a container started as {who} with the session's hardening (whether `claude` runs: next rung)"
        if ran.error:
            raise _Failed(f"docker could not start the container: {ran.error}")
        if ran.oom:
            raise _Failed("`claude --version` was killed: out of memory at start")
        if ran.status > 128:
            raise _Failed(f"`claude --version` died of {_signal_name(ran.status - 128)} (exit {ran.status}) at start")
        return f"a container started as {who} with the session's hardening, no network, and exited {ran.status}"

    def version(self) -> str:
        ran = self.version_run
        assert ran is not None  # the start rung ran it
        if ran.status in (126, 127):
            raise _Failed(f"no `claude` the image can run (exit {ran.status}"
                          + (f": {_last_line(ran.err)})" if _last_line(ran.err) else ")"))
        if ran.status != 0:
            raise _Failed(f"`claude --version` exited {ran.status}: {_last_line(ran.err or ran.out) or '(no output)'}")
        first = _first_line(ran.out)
        if not VERSION.search(first):
            raise _Failed(f"`claude --version` printed no version: {first or '(nothing)'}")
        return f"`claude --version`: {first}"

    def state(self) -> str:
        self._reachable()
        home = self._folder("state")
        for rel, data in self.seed.items():
            path = home / ".claude" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        api = self._standin()
        env = {"ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": FAKE_KEY}
        ran = self._contained(["-p", "smoke ladder: state"], home, "host", env, STATE_TIMEOUT)
        if ran.status != 0:
            raise _Failed(f"`claude -p` exited {ran.status}: {_last_line(ran.err or ran.out) or '(no output)'}")
        seeded = {rel.split("/")[0] for rel in self.seed}  # (what Claude Code wrote, not what the seed put there)
        config = home / ".claude"
        written = [".claude.json"] if (home / ".claude.json").exists() else []
        written += [".claude"] if config.is_dir() and any(p.name not in seeded for p in config.iterdir()) else []
        if not written:
            raise _Failed("`claude -p` exited 0 having written nothing under HOME: the silent exit-0 trap "
                          "(HOME unwritable, or the image sends Claude Code's state elsewhere)")
        if "smoke ladder: state" not in api.prompts():
            raise _Failed("`claude -p` exited 0 but the stand-in got no request from it")
        return f"`claude -p` wrote its state under HOME ({', '.join('~/' + n for n in written)})"

    def roundtrip(self) -> str:
        from claude_docker.launcher.staging import transcript_dir_name

        self._reachable()
        base = self._folder("roundtrip")
        home, project, state = base / "home", base / "project", base / "state"
        for folder in (home, project, project / ".git"):  # (.git: the project root, even inside a work tree)
            folder.mkdir()
        api = self._standin()
        prompt = f"smoke ladder: round trip {secrets.token_hex(4)}"
        argv = [sys.executable, "-I", "-m", "claude_docker", "run", "--", "-p", prompt]
        out_path, err_path = base / "stdout", base / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            # its own session: the wrapper and its docker CLI are signalled as one group
            child = subprocess.Popen(argv, cwd=project, env=self._session_env(home, state, api),
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        ours = (LABEL_PREFIX + "wrapper-pid=" + str(child.pid),
                LABEL_PREFIX + "project=" + os.path.realpath(project))
        try:
            ended = _finish(child, ROUNDTRIP_TIMEOUT, lambda: self._remove(*ours))
        finally:
            if child.poll() is None:  # stopped midway (Ctrl-C, SIGTERM): nothing of it outlives the ladder
                _stop_group(child, lambda: self._remove(*ours))
            self._remove(*ours)  # a wrapper that had to be killed leaves its container: the ladder's to remove
        if not ended:
            raise _Failed(f"the session did not end within {ROUNDTRIP_TIMEOUT:g}s")
        text, why = _head(out_path), _last_line(_tail(err_path))
        if child.returncode != 0:
            raise _Failed(f"the session exited {child.returncode}: {why or '(no output)'}")
        if prompt not in api.prompts():
            raise _Failed("the session exited 0 but the stand-in got no request from it")
        if REPLY not in text:
            raise _Failed(f"the stand-in's answer did not come back: {_first_line(text) or '(no output)'}")
        transcripts = home / ".claude" / "projects" / transcript_dir_name(Path(os.path.realpath(project)))
        if not any(prompt in _head(path) for path in transcripts.glob("*.jsonl")):
            raise _Failed("the session answered but its transcript is not on the host (sync out)")
        return "a `claude -p` session through the wrapper was answered, its transcript synced back to the host"

    def _reachable(self) -> None:
        """The stand-in listens on this host's loopback, which a container reaches only on the host's network:
        rootless Docker's host network is its own namespace's."""
        if self.mapping == "rootless":
            raise _Failed("not run here: rootless Docker's host network is not this host's loopback, where the "
                          "stand-in listens; run the smoke tests on a rootful engine (or deploy with --skip-smoke)")

    # -- the means --------------------------------------------------------
    def _docker(self, *args: str, timeout: float = DOCKER_TIMEOUT) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self.docker, *args], stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout, text=True, errors="replace")
        except subprocess.TimeoutExpired:
            raise _Failed(f"`docker {args[0]} {args[1]}` did not answer within {timeout:g}s") from None
        except OSError as exc:
            raise _Failed(f"cannot run {self.docker}: {exc.strerror}") from None

    def _contained(self, args: list[str], home: Path, network: str, env: dict[str, str], timeout: float) -> _Ran:
        """Claude Code with `args` in a container of the pinned image, hardened as a session is, with `home` (a
        host folder) as HOME. Created, started, inspected and removed here rather than `docker run --rm`,
        whose container is gone before anyone can see who it ran as."""
        argv = run_argv(self.docker, self._spec(home, network, env), self._options(network), args, {})
        assert argv[1:3] == ["run", "--rm"], argv[:3]
        created = self._docker("create", "--pull", "never", *argv[3:])
        if created.returncode != 0:
            raise _Failed(f"docker cannot create the container: {_reason(created)}")
        cid = created.stdout.strip()
        out_path, err_path = home.parent / f"{home.name}.stdout", home.parent / f"{home.name}.stderr"
        try:
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                subprocess.run([self.docker, "start", "--attach", cid], stdin=subprocess.DEVNULL, stdout=out,
                               stderr=err, timeout=timeout)
            seen = self._docker("container", "inspect", cid)
        except subprocess.TimeoutExpired:
            raise _Failed(f"`claude {' '.join(args)}` did not finish within {timeout:g}s") from None
        except OSError as exc:
            raise _Failed(f"cannot run {self.docker}: {exc.strerror}") from None
        finally:
            self._docker("rm", "--force", cid)
        try:
            attrs = json.loads(seen.stdout)[0]
            state = attrs["State"]
            return _Ran(int(state["ExitCode"]), str(state.get("Error") or ""), bool(state.get("OOMKilled")),
                        str(attrs["Config"].get("User") or ""), _head(out_path), _tail(err_path))
        except (ValueError, LookupError, TypeError, AttributeError):
            raise _Failed(f"cannot inspect the container: {_reason(seen)}") from None

    def _spec(self, home: Path, network: str, env: dict[str, str]) -> SessionSpec:
        from claude_docker.liveness import host_name, process_start

        token, pid = secrets.token_hex(6), os.getpid()
        return SessionSpec(
            session_id=token, name=f"claude-docker-smoke-{token}", image=self.image_id, slot=ROLE, project=home,
            workdir=home, home=home, uid=self.uid, gid=self.gid, wrapper_pid=pid, wrapper_start=process_start(pid),
            host=host_name(), started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            mounts=(Mount(home, home),), tty=False, stdin=False, host_userns=self.mapping == "userns",
            network=network,
            env={**default_env(home, None, {}), "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", **env})

    def _options(self, network: str):
        """The user's session options with the ladder's network, and without what is not hardening: their
        own docker flags (CLAUDE_DOCKER_RUN_ARGS, which could name another network) and the engine's socket."""
        from claude_docker.options import RunOptions

        try:
            opts = copy.copy(RunOptions.from_env())
        except ToolError as exc:
            raise _Failed(exc.message) from None
        opts.network, opts.docker_socket, opts.extra_args = network, False, ("--label", f"{ROLE_LABEL}={ROLE}")
        return opts

    def _session_env(self, home: Path, state: Path, api: StandIn) -> dict[str, str]:
        """A clean environment for the wrapper: nothing of the user's but PATH and how to reach the engine."""
        env = {
            "PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), "CLAUDE_DOCKER_STATE_DIR": str(state),
            "CLAUDE_DOCKER_IMAGE": str(self.image_id), "CLAUDE_DOCKER_NETWORK": "host",
            "CLAUDE_DOCKER_OBSERVABILITY": "0", "CLAUDE_DOCKER_BACKUP_INTERVAL": "0", "NO_COLOR": "1",
            "ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": FAKE_KEY,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
        # The engine this process reaches, named outright: the user's docker config (its proxies, which the CLI
        # would hand to the candidate's container, credentials and all) stays out, an empty one in its place.
        sock = engine.socket_path()
        env["DOCKER_HOST"] = "unix://" + sock if sock else os.environ.get("DOCKER_HOST", "")
        env.update({k: v for k, v in os.environ.items() if k in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")})
        env["DOCKER_CONFIG"] = str(self._folder("docker-config"))
        return env

    def _standin(self) -> StandIn:
        if self.standin is None:
            self.standin = self.cleanup.enter_context(StandIn(reply=REPLY))
        return self.standin

    def _folder(self, name: str) -> Path:
        """A fresh folder in the ladder's own temporary one (removed when the ladder ends)."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="claude-docker-smoke-"))
            self.cleanup.callback(shutil.rmtree, self._scratch, ignore_errors=True)
        folder = self._scratch / name
        folder.mkdir()
        return folder

    def _remove(self, *labels: str) -> None:
        filters = [f for label in labels for f in ("--filter", "label=" + label)]
        found = self._docker("container", "ls", "--all", "--quiet", *filters)
        ids = found.stdout.split() if found.returncode == 0 else []
        if ids:
            self._docker("rm", "--force", *ids)


def _finish(child: subprocess.Popen, timeout: float, remove: Callable[[], None]) -> bool:
    """Whether the child ended within `timeout`; if not, it is stopped (_stop_group)."""
    try:
        child.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        _stop_group(child, remove)
        return False


def _stop_group(child: subprocess.Popen, remove: Callable[[], None]) -> None:
    """Stop the wrapper as a user would (SIGTERM: it stops its session), its container removed first so that
    nothing waits on it, then its whole group killed if that does not end it."""
    remove()
    for signum, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, DOCKER_TIMEOUT)):
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass
        try:
            child.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _head(path: Path) -> str:
    """The start of the regular file `path` (a bounded read; a link, a FIFO or a folder the image planted
    reads as nothing rather than blocking)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        return os.read(fd, KEEP_OUTPUT).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _tail(path: Path) -> str:
    """The end of what was printed to `path` (a bounded read)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - KEEP_OUTPUT))
            return fh.read(KEEP_OUTPUT).decode("utf-8", "replace")
    except OSError:
        return ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _last_line(text: str) -> str:
    return next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")


def _reason(done: subprocess.CompletedProcess) -> str:
    return engine.cli_failure(done.stderr) or f"exit status {done.returncode}"
