"""One way to send to any target: by its URL scheme, the channel module imported only when used (mail's
smtplib, plyer's D-Bus stack cost nothing to a run that has no such target). Whatever a channel raises
becomes a failed Delivery with one line: a broken channel never stops the others."""

from __future__ import annotations

import importlib

from claude_docker import redact
from claude_docker.alerting.model import Delivery, Notification, Target

# scheme → module in this package, also the `channel` label of claude_docker_notifications_total.
MODULES = {
    "desktop": "desktop",
    "slack": "slack", "slack+http": "slack", "slack+https": "slack",
    "mailto": "mail", "mailtos": "mail", "sendmail": "mail",
    "alertmanager": "alertmanager", "alertmanager+http": "alertmanager", "alertmanager+https": "alertmanager",
    "json": "webhook", "json+http": "webhook", "json+https": "webhook",
}


def channel(target: Target) -> str:
    return MODULES.get(target.scheme, "unknown")


def send(target: Target, note: Notification, timeout: float = 10.0) -> Delivery:
    name = MODULES.get(target.scheme)
    if name is None:
        return Delivery(False, f"{target.shown}: unknown channel {target.scheme!r}", permanent=True)
    try:
        module = importlib.import_module(f"{__name__}.{name}")
        return module.send(target, note, timeout)
    except Exception as exc:  # noqa: BLE001 - a channel's bug or missing library is one failed delivery, retried
        line = redact.text(f"{type(exc).__name__}: {exc}").splitlines() or [type(exc).__name__]
        return Delivery(False, f"{target.shown}: {redact.printable(line[0])}")
