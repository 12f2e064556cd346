"""The sessions Docker knows about: our labelled containers, live or orphaned."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from claude_docker.container import LABEL_PREFIX, TOOL_LABEL
from claude_docker.liveness import host_name, is_alive


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
    orphaned: bool  # its wrapper (on this host) is gone

    def to_json(self) -> dict:
        return asdict(self)


def sessions(client) -> list[LiveSession]:
    here = host_name()
    found = []
    for c in client.containers.list(all=True, filters={"label": f"{TOOL_LABEL}=claude-docker"}):
        labels = c.labels
        pid = int(labels.get(LABEL_PREFIX + "wrapper-pid", "0") or 0)
        host = labels.get(LABEL_PREFIX + "host", "")
        orphaned = host == here and not is_alive(pid, labels.get(LABEL_PREFIX + "wrapper-start", ""))
        found.append(LiveSession(
            session=labels.get(LABEL_PREFIX + "session", ""), name=c.name,
            project=labels.get(LABEL_PREFIX + "project", ""),
            image=c.attrs.get("Config", {}).get("Image", ""), slot=labels.get(LABEL_PREFIX + "slot", ""),
            host=host, wrapper_pid=pid, started=labels.get(LABEL_PREFIX + "started", ""),
            status=c.status, orphaned=orphaned,
        ))
    return sorted(found, key=lambda s: s.started)
