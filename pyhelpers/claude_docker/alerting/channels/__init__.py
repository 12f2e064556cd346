"""One way to send to any target: by its URL scheme (targets.CHANNELS), the channel module imported only when
used (mail's smtplib, plyer's D-Bus stack cost nothing to a run that has no such target). Whatever a channel
raises becomes a failed Delivery with one line: a broken channel never stops the others."""

from __future__ import annotations

import importlib

from claude_docker import redact
from claude_docker.alerting.model import Delivery, Notification, Target
from claude_docker.alerting.targets import CHANNELS


def send(target: Target, note: Notification, timeout: float = 10.0) -> Delivery:
    name = CHANNELS.get(target.scheme)
    if name is None:
        return Delivery(False, f"{target.shown}: unknown channel {redact.printable(target.scheme)!r}", permanent=True)
    try:
        module = importlib.import_module(f"{__name__}.{name}")
        return module.send(target, note, timeout)
    except Exception as exc:  # noqa: BLE001 - a channel's bug or missing library is one failed delivery, retried
        line = redact.text(f"{type(exc).__name__}: {exc}").splitlines() or [type(exc).__name__]
        return Delivery(False, f"{target.shown}: {redact.printable(line[0])}")
