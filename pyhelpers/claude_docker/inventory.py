"""The sessions Docker knows about: the caller's own labelled containers, live or orphaned.

An engine may be shared (other users in the docker group, other PID namespaces of the same host), so a
container counts as the caller's only by its owner, the `io.claude-docker.uid` label. A container of an
older version has no such label; it ran as its user's uid:gid, so its `User` says whose, but a uid names
that user only on the host that started it: such a container is the caller's if its host label is this
host's name, else nobody's. Only root, asking explicitly (`all_users`), sees everyone's.

A session in allowlist mode has a second container, its egress sidecar: the same labels, and the role
`egress`. Both are listed; `shown` is what `ps` shows of them.

Whether it is orphaned is liveness.wrapper_state: only a wrapper recorded in this very place (host, boot,
PID namespace) can be found gone; one recorded elsewhere, or by an older version, counts as alive.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from claude_docker.container import LABEL_PREFIX, NETWORK_LABEL, ROLE_LABEL, TOOL_LABEL, UID_LABEL
from claude_docker.liveness import GONE, Place, here, wrapper_state

SESSION = "session"


@dataclass(frozen=True)
class LiveSession:
    session: str
    name: str
    project: str
    image: str
    slot: str
    host: str
    wrapper_pid: int
    started: str
    status: str  # docker's: running, exited, created, ...
    uid: int | None  # its owner's; None: an older version's container from another host
    wrapper: str  # liveness: alive, gone, or elsewhere (not checkable from here, so taken as alive)
    orphaned: bool  # its wrapper is gone (proven, from the place it ran in)
    role: str  # "session": Claude Code's container; "egress": its sidecar (egress/sidecar.py)
    network: str  # the session's network mode (NETWORK_LABEL); "" for a container of an older version

    def to_json(self) -> dict:
        return asdict(self)


def _uid(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def owner(labels: dict, config: dict, host: str) -> int | None:
    """The uid whose session a container is (see the module's docstring), or None if no one can tell."""
    if UID_LABEL in labels:
        return _uid(labels[UID_LABEL])
    if labels.get(LABEL_PREFIX + "host") != host:
        return None
    return _uid((config.get("User") or "").partition(":")[0])


def sessions(client, all_users: bool = False) -> list[LiveSession]:
    """The caller's sessions (every user's with `all_users`, which only root should be given)."""
    me, current = os.getuid(), here()
    found = []
    # ignore_removed: on a shared engine, sessions end (--rm) between the listing and each inspect.
    for c in client.containers.list(all=True, filters={"label": f"{TOOL_LABEL}=claude-docker"}, ignore_removed=True):
        labels, config = c.labels, c.attrs.get("Config", {})
        uid = owner(labels, config, current.host)
        if uid != me and not all_users:
            continue
        pid = int(labels.get(LABEL_PREFIX + "wrapper-pid", "0") or 0)
        place = Place(*(labels.get(LABEL_PREFIX + field, "") for field in Place._fields))
        wrapper = wrapper_state(place, pid, labels.get(LABEL_PREFIX + "wrapper-start", ""), current)
        found.append(LiveSession(
            session=labels.get(LABEL_PREFIX + "session", ""), name=c.name,
            project=labels.get(LABEL_PREFIX + "project", ""),
            image=config.get("Image", ""), slot=labels.get(LABEL_PREFIX + "slot", ""),
            host=place.host, wrapper_pid=pid, started=labels.get(LABEL_PREFIX + "started", ""),
            status=c.status, uid=uid, wrapper=wrapper, orphaned=wrapper == GONE,
            role=labels.get(ROLE_LABEL, SESSION), network=labels.get(NETWORK_LABEL, ""),
        ))
    return sorted(found, key=lambda s: s.started)


def shown(found: list[LiveSession]) -> list[LiveSession]:
    """What `ps` lists: the sessions, and of their sidecars only an orphaned one whose session's container is
    gone (`cleanup` removes it): any other is its session's part, shown by its row."""
    with_container = {(s.session, s.uid) for s in found if s.role == SESSION}
    return [s for s in found if s.role == SESSION or (s.orphaned and (s.session, s.uid) not in with_container)]
