"""Ask Docker, over its socket (no SDK, no CLI), about the session's container: started yet? still running?"""

from __future__ import annotations

import os
import time

from claude_docker import engine
from claude_docker.obs import settings

# How long, and how often, to ask Docker whether the container started (for the startup latency).
STARTUP_POLL_SECONDS, STARTUP_POLL_INTERVAL = 120.0, 0.025


def wait_for_start(child: int, name: str) -> tuple[float | None, int | None]:
    """Poll until the container runs (its StartedAt, from Docker) or the docker CLI exits (its wait status)."""
    sock = engine.socket_path() if settings.enabled() else None
    deadline = time.time() + STARTUP_POLL_SECONDS
    while sock and time.time() < deadline:
        pid, wait_status = os.waitpid(child, os.WNOHANG)
        if pid:
            return None, wait_status
        started = engine.container_started_at(sock, name)
        if started:
            return started, None
        time.sleep(STARTUP_POLL_INTERVAL)
    return None, None


def container_gone(name: str) -> bool:
    """After the docker CLI exited: is the session's container gone (or stopped) too? A container that
    still runs is stopped now; True once it no longer runs. Unknowable (remote daemon): assume gone."""
    sock = engine.socket_path()
    if sock is None:
        return True
    try:
        status, body = engine.request(sock, f"/containers/{engine.quote_ref(name)}/json", timeout=2.0)
    except OSError:
        return True
    if status == 404 or b'"Running":true' not in body.replace(b" ", b""):
        return True
    return engine.stop_container(sock, name)
