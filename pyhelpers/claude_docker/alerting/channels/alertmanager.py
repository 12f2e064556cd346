"""Prometheus Alertmanager: our alerts POSTed to /api/v2/alerts, so a team routes, groups, silences and
inhibits them with the tool it already runs. Identity is the label set (ours plus `instance`, this host);
a digest is sent as the alerts it stands for, each one its own entry."""

from __future__ import annotations

import re
import socket
import time
from datetime import datetime, timezone

from claude_docker.alerting import targets
from claude_docker.alerting.channels import httppost
from claude_docker.alerting.model import DIGEST, RESOLVED, Delivery, Notification, Target

# A firing alert's endsAt: Alertmanager resolves an alert it stops hearing about after endsAt (with none,
# after its resolve_timeout, 5m by default). We re-send a firing alert at most every repeat interval
# (15 min), so it is told to hold the alert for an hour: four missed repeats before it resolves on its own.
FIRING_HOLD_S = 3600.0
# What Alertmanager takes as a label name; it refuses the whole POST for one other (a user's `exit-code=2`).
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _label_name(name: str) -> str:
    name = _NOT_NAME.sub("_", name)
    return name if name[:1] and not name[0].isdigit() else "_" + name


def alert(note: Notification, instance: str, now: float) -> dict:
    labels = {_label_name(k): v for k, v in note.labels.items() if v != ""}
    labels.setdefault("instance", instance)
    annotations = {"summary": note.summary}
    if note.runbook:
        annotations["runbook"] = note.runbook
    ends = (note.ends_at or _iso(now)) if note.kind == RESOLVED else _iso(now + FIRING_HOLD_S)
    return {"labels": labels, "annotations": annotations, "startsAt": note.starts_at or _iso(now),
            "endsAt": ends, "generatorURL": ""}


def payload(note: Notification, now: float) -> list[dict]:
    instance = socket.gethostname()
    if note.kind != DIGEST:
        return [alert(note, instance, now)]
    out = []
    for item in note.items:
        try:
            out.append(alert(Notification.from_json(item), instance, now))
        except ValueError:
            continue  # not a notification: nothing Alertmanager could take
    return out


def send(target: Target, note: Notification, timeout: float) -> Delivery:
    return httppost.post_json("alertmanager", targets.http_url(target), payload(note, time.time()), timeout)
