"""Desktop notifications through plyer (imported only here, when one is sent). A machine without a
notification service (a server, a container, an SSH session) gets one clear notice, once: the first failure
writes a marker and emits an event; later failures are quiet until a send works again and clears it. The
other channels go on either way: a failure here is permanent for this notification, never retried."""

from __future__ import annotations

import os
import socket
import sys
import warnings

from claude_docker.alerting import files, notice
from claude_docker.alerting.channels import render
from claude_docker.alerting.model import Delivery, Notification, Target

MARKER = notice.MARKER


def _bus_problem() -> str:
    """Why no session D-Bus can carry a notification on Linux ("" when it looks usable). plyer can't tell:
    its notify-send fallback ignores notify-send's failure."""
    if not sys.platform.startswith("linux"):
        return ""
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if not address and runtime and os.path.exists(os.path.join(runtime, "bus")):
        address = "unix:path=" + os.path.join(runtime, "bus")
    if not address:
        return "no session D-Bus (DBUS_SESSION_BUS_ADDRESS is not set)"
    for option in address.split(";")[0].partition(":")[2].split(","):
        key, _, value = option.partition("=")
        if key in ("path", "abstract"):
            where = value if key == "path" else "\0" + value
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(1.0)
                    sock.connect(where)
            except OSError as exc:
                return f"the session D-Bus does not answer ({exc.strerror or exc})"
    return ""


def _notify(title: str, message: str) -> None:
    """plyer's notify, with the backend chosen now (plyer.notification keeps its first choice for the life of
    the process: `alert watch` would never see a service started later), its warnings kept off stderr."""
    import importlib

    from plyer.utils import platform

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module(f"plyer.platforms.{platform}.notification")
        module.instance().notify(title=title, message=message, app_name="claude-docker", timeout=10)


def _unavailable(detail: str) -> Delivery:
    """The one-time notice: the marker's creation (O_EXCL) decides which process emits the event."""
    try:
        fd = os.open(files.directory() / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError:
        first = False  # already noticed (or the state dir can't take it: no event rather than one per alert)
    else:
        os.write(fd, (detail + "\n").encode())
        os.close(fd)
        first = True
    if first:
        from claude_docker.obs import events

        events.emit("alert.desktop_unavailable", f"no desktop notifications here: {detail}; the other alert "
                    "channels go on (docs/ALERTING.md)", level="warn", outcome="error", fields={"reason": detail})
    return Delivery(ok=False, detail=f"desktop: {detail}", permanent=True)


def send(target: Target, note: Notification, timeout: float) -> Delivery:
    problem = _bus_problem()
    if not problem:
        try:
            _notify(render.one_line(note.title), render.short(note))
        except NotImplementedError:
            problem = "no notification backend (plyer found none: install notify-send or python3-dbus)"
        except Exception as exc:  # noqa: BLE001 - dbus errors, a missing or failing notify-send: all mean the same
            problem = f"notification failed ({type(exc).__name__}: {render.one_line(str(exc))[:200]})"
    if problem:
        return _unavailable(problem)
    for name in (MARKER, notice.TOLD):
        try:
            (files.directory() / name).unlink()
        except OSError:
            pass  # none (the usual case), or a state dir we can't change: the notification was shown all the same
    return Delivery(ok=True, detail="desktop: shown")
