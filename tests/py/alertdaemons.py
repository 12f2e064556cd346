"""The real receivers alert tests deliver to, started on 127.0.0.1 and stopped by the test (by pid / object):
Prometheus Alertmanager (with a webhook receiver behind it), an SMTP server (aiosmtpd), and a desktop
notification service (dunst on a session D-Bus under Xvfb). Each is a context manager; the test module's
fixtures choose the scope."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from alertservers import Receiver
from polling import wait_for

AM = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """A process this test started, stopped by its pid."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def alertmanager(workdir: Path):
    """(url, hook): a real Alertmanager routing everything, resolves too, to the `hook` Receiver at once."""
    if not os.access(AM, os.X_OK):
        pytest.skip("prometheus-alertmanager is not installed (tests/machine.sh installs it)")
    hook = Receiver()
    config = workdir / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        f"receivers:\n  - name: hook\n    webhook_configs:\n      - url: {hook.url}/hook\n"
        "        send_resolved: true\n")
    port = free_port()
    log = (workdir / "alertmanager.log").open("wb")
    proc = subprocess.Popen([AM, f"--config.file={config}", f"--storage.path={workdir / 'am-data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready():
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            assert proc.poll() is None, (workdir / "alertmanager.log").read_text()
            return False

    try:
        wait_for(ready, timeout=30, what="Alertmanager to be ready")
        yield url, hook
    finally:
        stop(proc)
        log.close()
        hook.stop()


def am_alerts(url: str) -> list[dict]:
    """The alerts Alertmanager holds as active now (GET /api/v2/alerts)."""
    with urllib.request.urlopen(f"{url}/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true",
                                timeout=5) as response:
        return json.loads(response.read())


def hooked(hook: Receiver, status: str) -> list[dict]:
    """The alerts Alertmanager passed on to its webhook receiver with `status` (firing / resolved)."""
    return [a for r in list(hook.requests) for a in r.json().get("alerts", []) if a["status"] == status]


class Mailbox:
    """An aiosmtpd handler keeping what arrives; it refuses recipients at refused.example."""

    def __init__(self) -> None:
        self.messages: list = []
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted"

    def subjects(self) -> list[str]:
        from email import message_from_bytes, policy

        return [str(message_from_bytes(e.original_content, policy=policy.default)["Subject"])
                for e in list(self.messages)]


@contextlib.contextmanager
def smtp(authenticator=None):
    """A Mailbox behind a real SMTP server (aiosmtpd) on 127.0.0.1; `.port` is where."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    box.port = controller.port
    try:
        yield box
    finally:
        controller.stop()


@contextlib.contextmanager
def dunst(workdir: Path):
    """A session D-Bus, an X server (Xvfb) and dunst on them: yields the environment to reach them with
    (DISPLAY, DBUS_SESSION_BUS_ADDRESS). Skips where the tools are missing."""
    tools = {name: shutil.which(name) for name in ("dbus-daemon", "Xvfb", "dunst", "dunstctl", "notify-send")}
    missing = [name for name, path in tools.items() if not path]
    if missing:
        pytest.skip(f"no desktop notification service to test with here: {', '.join(missing)} missing")
    started: list[subprocess.Popen] = []
    try:
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                               stdout=subprocess.PIPE, text=True)
        started.append(bus)
        address = bus.stdout.readline().strip()
        assert address.startswith("unix:"), address
        display = next(n for n in range(90, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists()
                       and not Path(f"/tmp/.X{n}-lock").exists())
        started.append(subprocess.Popen(["Xvfb", f":{display}", "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        wait_for(lambda: Path(f"/tmp/.X11-unix/X{display}").exists(), timeout=10, what="Xvfb")
        env = {"DISPLAY": f":{display}", "DBUS_SESSION_BUS_ADDRESS": address}
        (workdir / "dunstrc").write_text("[global]\n")
        started.append(subprocess.Popen(["dunst", "-config", str(workdir / "dunstrc")], env={**os.environ, **env},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: subprocess.run(["dunstctl", "count", "displayed"], capture_output=True,
                                        env={**os.environ, **env}).returncode == 0,
                 timeout=10, what="dunst on the session bus")
        yield env
    finally:
        for proc in reversed(started):
            stop(proc)


def dunst_history(env: dict) -> list[dict]:
    """Every notification dunst was given (shown ones are closed into its history first)."""
    run_env = {**os.environ, **env}
    subprocess.run(["dunstctl", "close-all"], check=True, env=run_env)
    out = subprocess.run(["dunstctl", "history"], capture_output=True, text=True, check=True, env=run_env).stdout
    return [{k: v["data"] for k, v in n.items()} for n in json.loads(out)["data"][0]]
