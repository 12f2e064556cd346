"""The one-time notice that alerts can't reach a desktop here, told at the next `claude` start (the background
pass that found out has no terminal). One stat on the start path; told once until desktop notifications work
again (the desktop channel then removes its marker, and with it this one)."""

from __future__ import annotations

import os

from claude_docker.paths import state_dir

MARKER = "desktop-unavailable"
TOLD = "desktop-unavailable.told"


def take() -> str | None:
    """The notice, the first time it is asked for after the desktop channel failed; None otherwise."""
    where = state_dir() / "alerting"
    if not os.path.exists(where / MARKER):
        return None
    try:
        os.close(os.open(where / TOLD, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except OSError:
        return None  # told already (or can't be marked: then say nothing rather than at every start)
    return ("claude-docker: alerts can't reach a desktop here (no notification service); they wait in "
            "`claude-docker alert status`: add Slack, mail or a webhook in ~/.claude-docker/alerting.toml "
            "(docs/ALERTING.md)")
