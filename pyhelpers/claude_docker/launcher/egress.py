"""One session's egress in allowlist mode (docs/SECURITY.md, "The network").

The session's container joins the network namespace of a forwarder sidecar that has only loopback: its one
way out is 127.0.0.1:3128, which the sidecar carries to a unix socket where the proxy, a child process of
this wrapper on the host, decides each connection by the allowlist. Everything slow (the forwarder image,
the sidecar's start) runs on a thread while the session is staged; `ready` waits for it before Claude Code
starts, so a session never runs before its way out is in place, and never with another one.
"""

from __future__ import annotations

import os
import signal
import sys

from claude_docker import exitcodes
from claude_docker.errors import ToolError

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    import threading
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from claude_docker.options import RunOptions

# The name by which a session reaches the host's own loopback (through the proxy, when allowed): Docker's
# convention for "the host".
HOST_ALIAS = "host.docker.internal"
# The container's own loopback stays its own: a dev server Claude Code starts is reached directly.
NO_PROXY = "localhost,127.0.0.1,::1"
PROXY_FD = 3  # where the proxy finds its listening socket
SHOWN_DENIED = 5  # hosts named in the end summary; the rest are counted
# Options that would give the session its own way out, or a way to change its network.
NETWORK_CAPS = frozenset(("ALL", "NET_ADMIN", "NET_RAW", "SYS_ADMIN"))
NETWORK_ARGS = frozenset((
    "--network", "--net", "--network-alias", "--ip", "--ip6", "--link", "--mac-address", "--add-host", "--dns",
    "--dns-option", "--dns-search", "-p", "--publish", "-P", "--publish-all", "--privileged", "--cap-add", "--pid",
    "--userns", "--device", "--device-cgroup-rule"))
MOUNT_ARGS = frozenset(("-v", "--volume", "--mount"))
SHORT_WITH_VALUE = frozenset("acehlmpuvw")  # docker run's one-letter flags that take a value
# Where engine and agent sockets live: a mount from there hands the session a way out (an engine starts any
# container it is asked for).
SOCKET_DIRS = ("/run", "/var/run")


def check(opts: RunOptions) -> None:
    """Settings that would reopen a closed network are refused before anything starts (exit 125): allowlist
    mode never quietly becomes open egress."""
    caps = {c.upper().removeprefix("CAP_") for c in opts.cap_add} & NETWORK_CAPS
    if caps:
        raise ToolError(f"CLAUDE_DOCKER_CAP_ADD={','.join(sorted(caps))} would let the session change its "
                        "network: not with CLAUDE_DOCKER_NETWORK=allowlist", exitcodes.BAD_SETTING,
                        fix="drop it, or set CLAUDE_DOCKER_NETWORK=bridge for open egress")
    if opts.docker_socket:
        raise ToolError("CLAUDE_DOCKER_DOCKER_SOCKET=1 lets the session start containers with open egress: not "
                        "with CLAUDE_DOCKER_NETWORK=allowlist", exitcodes.BAD_SETTING,
                        fix="unset it, or set CLAUDE_DOCKER_NETWORK=bridge")
    refused = _reopening_arg(opts.extra_args)
    if refused:
        raise ToolError(f"CLAUDE_DOCKER_RUN_ARGS has {refused}, which would give the session a way out: not with "
                        "CLAUDE_DOCKER_NETWORK=allowlist", exitcodes.BAD_SETTING,
                        fix="drop it, or set CLAUDE_DOCKER_NETWORK=bridge for open egress")
    from claude_docker.egress import allowlist

    allowlist.effective(os.environ)  # a bad entry is one line now, not a surprise mid-session


def _reopening_arg(args: tuple[str, ...]) -> str | None:
    """The first docker run argument that would change the session's network or its namespaces, or mount a
    socket or a directory holding the engine's; None if there is none. Read as docker's flag parser reads
    them: `--flag=value`, `--flag value`, `-v value`, `-v/value`, combined short flags (`-itv value`)."""
    i = 0
    while i < len(args):
        arg, following = args[i], args[i + 1] if i + 1 < len(args) else ""
        i += 1
        if arg.startswith("--"):
            flag, eq, value = arg.partition("=")
            value = value if eq else following
            if flag == "--volumes-from":
                return flag  # another container's mounts, whatever they hold
            if flag in NETWORK_ARGS and not (flag == "--privileged" and eq and value.lower() == "false"):
                return flag
            if flag in MOUNT_ARGS and _socket_source(flag, value):
                return f"{flag} {value}"
            continue
        if not arg.startswith("-") or arg == "-":
            continue
        for at, letter in enumerate(arg[1:], 1):
            if f"-{letter}" in NETWORK_ARGS:
                return f"-{letter}"
            if letter in SHORT_WITH_VALUE:  # the rest of the word is its value, else the next word is
                value = arg[at + 1:]
                if not value:
                    value, i = following, i + 1
                if letter == "v" and _socket_source("-v", value):
                    return f"-v {value}"
                break
    return None


def _socket_source(flag: str, value: str) -> bool:
    """Does a -v/--mount value mount a socket, a directory sockets live in, or one above them?"""
    import stat

    if flag == "--mount":
        import csv

        source = ""
        for field in next(csv.reader([value]), []):  # docker reads --mount as one CSV record
            key, _, val = field.partition("=")
            if key.strip().lower() in ("source", "src"):  # in any case; the last one counts
                source = val
    else:
        source, colon, _ = value.partition(":")
        if not colon:
            return False  # an anonymous volume: the container path alone
    if not source or not source.startswith(("/", ".")):
        return False  # a named volume: the engine's own storage, holding no socket of the host's
    real = os.path.realpath(source)
    for d in SOCKET_DIRS:
        if real == d or real.startswith(d + "/") or d.startswith(real.rstrip("/") + "/"):
            return True
    if real.endswith(".sock"):
        return True
    try:
        return stat.S_ISSOCK(os.stat(real).st_mode)
    except OSError:
        return False


def api_target(environ: Mapping[str, str]) -> tuple[str, int] | None:
    """(host, port) the session's Claude Code sends its API requests to, as the proxy sees them; None for a
    base URL that is not one."""
    from urllib.parse import urlsplit

    url = environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com"
    url = rewrite_loopback_url(url) or url
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.scheme not in ("http", "https"):
        return None
    return host, port or (443 if parts.scheme == "https" else 80)


def rewrite_loopback_url(url: str) -> str | None:
    """A base URL on the host's loopback, as the session reaches it (`host.docker.internal`); None for any
    other URL. The container's 127.0.0.1 is its own, where no API listens."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if host is None:
        return None
    from claude_docker.egress.allowlist import normal_host

    try:
        if normal_host(host)[1] != "loopback":  # the addresses the proxy takes for the host's loopback
            return None
    except ValueError:
        return None
    userinfo = parts.netloc.rpartition("@")[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=userinfo + HOST_ALIAS + (f":{port}" if port is not None else "")))


class Egress:
    """The proxy process, the sidecar, and what the session's container needs from them."""

    def __init__(self, session_dir: Path, container: str):
        from claude_docker.egress import sidecar

        self.dir = session_dir / "egress"
        self.summary = self.dir / "denied.json"
        self.sidecar = sidecar.name_for(container)
        self.proxy_pid = 0
        self.proxy_status: int | None = None  # set once the proxy has exited
        self._thread: threading.Thread | None = None
        self._stopping: threading.Thread | None = None
        self._listener: Any = None
        self._argv: list[str] = []
        self._failure: BaseException | None = None
        self._told = False
        self._previous_sigchld: Any = None  # signal.signal's answer

    # ---- start ----

    def begin(self, session_id: str, trace_id: str, span_id: str, uid: int, gid: int, host_userns: bool,
              labels: dict[str, str]) -> None:
        """The proxy's socket listening, and the sidecar starting on a thread (`ready` waits for it)."""
        import threading

        from claude_docker.egress import forwarder, proxy

        sock_dir = self.dir / "socket"  # the only thing the sidecar mounts
        try:
            self.dir.mkdir(mode=0o700)
            sock_dir.mkdir(mode=0o700)
        except OSError as exc:
            from claude_docker.errors import describe

            raise ToolError(f"cannot make the egress proxy's socket directory {sock_dir}: {describe(exc)}",
                            exitcodes.TOOL_FAILED) from None
        self._listen(sock_dir / forwarder.SOCKET_NAME)
        self._argv = proxy.command(PROXY_FD, self.summary, session_id, trace_id, span_id, os.getpid())
        self._thread = threading.Thread(target=self._start_sidecar, name="egress-sidecar", daemon=True,
                                        args=(sock_dir, uid, gid, host_userns, labels))
        self._thread.start()

    def _listen(self, sock_path: Path) -> None:
        import socket

        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dir_fd = os.open(sock_path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            # Through the directory's fd: a state dir deep enough makes the socket's path longer than
            # sun_path's 108 bytes.
            listener.bind(f"/proc/self/fd/{dir_fd}/{sock_path.name}")
            listener.listen(128)
        except OSError as exc:
            listener.close()
            from claude_docker.errors import describe

            raise ToolError(f"cannot listen for the egress proxy: {describe(exc)}", exitcodes.TOOL_FAILED) from None
        finally:
            os.close(dir_fd)
        self._listener = listener

    def _start_sidecar(self, sock_dir: Path, uid: int, gid: int, host_userns: bool, labels: dict) -> None:
        from claude_docker.egress import forwarder, sidecar

        try:
            forwarder.ensure(lambda line: print(f"claude-docker: {line}", file=sys.stderr))
            sidecar.start(self.sidecar, sock_dir, uid, gid, host_userns, labels)
        except BaseException as exc:  # noqa: BLE001 - handed to `ready`, which raises it in the main thread
            self._failure = exc

    def ready(self) -> None:
        """Wait for the sidecar, then start the proxy on the socket: a failure stops the run before Claude
        Code starts. Started now, not earlier, its interpreter's start doesn't compete with the sidecar's for
        the CPU; a connection that comes before it serves waits in the socket's backlog."""
        if self._thread is not None:
            self._thread.join()
        if self._failure is not None:
            raise self._failure
        listener = self._listener
        try:
            if listener.fileno() == PROXY_FD:
                os.set_inheritable(PROXY_FD, True)  # dup2 onto itself would leave it close-on-exec
            quiet = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
            # Its own session: the terminal's Ctrl-C is Claude Code's, never the proxy's. Its record is the
            # event log, not the user's terminal. The socket moves first: with our stdio closed, it may be
            # fd 0, 1 or 2, which /dev/null then takes.
            self.proxy_pid = os.posix_spawn(self._argv[0], self._argv, os.environ, setsid=True, file_actions=[
                (os.POSIX_SPAWN_DUP2, listener.fileno(), PROXY_FD), *quiet])
        except OSError as exc:
            from claude_docker.errors import describe

            raise ToolError(f"cannot start the egress proxy: {describe(exc)}", exitcodes.TOOL_FAILED) from None
        finally:
            listener.close()  # the proxy's now: the sidecar finds nobody once it is gone

    def network(self) -> str:
        """The container whose network namespace the session joins."""
        return self.sidecar

    def env(self) -> dict[str, str]:
        """The proxy variables, for Claude Code and every tool in the container (upper and lower case: curl
        reads only http_proxy in lower case)."""
        from claude_docker.egress import forwarder

        url = f"http://127.0.0.1:{forwarder.PORT}"
        env = {}
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
            env[name] = env[name.lower()] = url
        env["NO_PROXY"] = env["no_proxy"] = NO_PROXY
        return env

    def docker_env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The docker CLI's own environment: a loopback ANTHROPIC_BASE_URL rewritten to the host's alias. It
        still passes by name (a URL may carry a password, which `ps` must not show)."""
        env = dict(environ)
        rewritten = rewrite_loopback_url(env.get("ANTHROPIC_BASE_URL", ""))
        if rewritten:
            env["ANTHROPIC_BASE_URL"] = rewritten
        return env

    # ---- during the session ----

    def watch(self) -> None:
        """Tell the user at once if the proxy dies: the session's network stays closed (the sidecar finds no
        one at the socket), and a restart of `claude` brings it back."""
        self._previous_sigchld = signal.signal(signal.SIGCHLD, self._on_child)
        self._on_child(signal.SIGCHLD, None)  # one that died before the handler was there

    def _on_child(self, _signum, _frame) -> None:
        if not self.proxy_pid:
            return
        try:
            pid, status = os.waitpid(self.proxy_pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.proxy_pid, 0
        if not pid:
            return
        self.proxy_pid, self.proxy_status = 0, status
        try:
            print(f"\r\nclaude-docker: the egress proxy stopped ({_status_text(status)}): this session's network "
                  "is closed now; restart `claude` to open the allowed hosts again\r", file=sys.stderr, flush=True)
        except OSError:
            pass  # no terminal to tell (the end summary still says it): never an error inside supervise's wait
        from claude_docker.obs.events import emit

        emit("egress.proxy_died", "the egress proxy stopped mid-session; the session's network stays closed",
             level="error", fields={"status": _status_text(status)})

    # ---- the end ----

    def stop(self) -> None:
        """Begin the end, with the session's container gone: the proxy told to stop, the sidecar killed on a
        thread (the engine takes tens of ms to answer), while the config is synced back. Idempotent."""
        import threading

        if self._previous_sigchld is not None:
            signal.signal(signal.SIGCHLD, self._previous_sigchld)
            self._previous_sigchld = None
        if self.proxy_pid:
            _signal(self.proxy_pid, signal.SIGTERM)
        if self._stopping is None:
            self._stopping = threading.Thread(target=self._stop_sidecar, name="egress-stop", daemon=True)
            self._stopping.start()

    def _stop_sidecar(self) -> None:
        from claude_docker.egress import sidecar

        if self._thread is not None:
            self._thread.join()  # a sidecar still starting (the run failed meanwhile) is stopped once up
        try:
            sidecar.stop(self.sidecar)
        except ToolError:
            pass  # gone already, or the engine is: `cleanup` removes a sidecar whose wrapper is gone

    def finish(self) -> None:
        """The end: the sidecar removed, the proxy exited (it writes its summary last). Idempotent."""
        self.stop()
        if self._listener is not None:
            self._listener.close()  # never handed to a proxy: the run ended before one started
        if self._stopping is not None:
            self._stopping.join()
        if self.proxy_pid:
            _reap(self.proxy_pid)
            self.proxy_pid = 0

    def summary_lines(self, session_id: str) -> list[str]:
        """The end summary: each denied host with the command that allows it; a proxy that died. Given once:
        asked again, nothing."""
        import json

        if self._told:
            return []
        self._told = True
        import shlex

        from claude_docker.egress.proxy import OTHERS
        from claude_docker.ui import shown

        lines = []
        if self.proxy_status is not None:
            lines.append(f"the egress proxy stopped mid-session ({_status_text(self.proxy_status)}); its "
                         "network stayed closed from then on")
        try:
            denied = json.loads(self.summary.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            denied = {}
        counts = denied.items() if isinstance(denied, dict) else ()
        ranked = sorted(((t, n) for t, n in counts if isinstance(n, int)), key=lambda tn: (-tn[1], tn[0]))
        for target, count in ranked[:SHOWN_DENIED]:
            safe = shown(target)  # the session chose the name: no escape sequence reaches the terminal
            times = f" ({count} times)" if count > 1 else ""
            if target == OTHERS:
                lines.append(f"and {count} requests to other hosts were denied")
                continue
            lines.append(f"egress to {safe} was denied{times}: allow it with `claude-docker egress allow "
                         f"{shlex.quote(safe)}`")
        if len(ranked) > SHOWN_DENIED:
            lines.append(f"{len(ranked) - SHOWN_DENIED} more hosts were denied: `claude-docker egress log --denied "
                         f"--session {session_id}`")
        return lines


def _status_text(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _reap(pid: int, grace: float = 3.0) -> None:
    """Wait for a child told to stop; SIGKILL after `grace` seconds. Reaped either way (never a zombie)."""
    import time

    deadline = time.monotonic() + grace
    delay = 0.002
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    _signal(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
