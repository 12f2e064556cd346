"""Does an image run Claude Code? The smoke ladder's first rungs (rollout/ladder.py): the image is here,
a container of it starts hardened as a session, with no network, and `claude --version` answers. Recovery
verifies with it; rollouts climb the whole ladder."""

from __future__ import annotations


def smoke_image(image: str) -> tuple[bool, str]:
    """(passed, the version it printed or why it failed)."""
    from claude_docker.rollout import ladder

    _, rungs = ladder.run(image, until="version")
    failed = next((r for r in rungs if r.passed is False), None)
    return (False, failed.detail) if failed else (True, rungs[-1].detail)
