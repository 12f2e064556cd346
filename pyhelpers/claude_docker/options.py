"""Run options, read from CLAUDE_DOCKER_* environment variables (all listed in the README)."""

from __future__ import annotations

import random
from collections import namedtuple
from typing import TYPE_CHECKING

from claude_docker import DEFAULT_IMAGE, envspec

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DEFAULT_IMAGE", "RunOptions"]

class RunOptions(namedtuple("RunOptions", [
        "image", "v2_image", "v2_probability", "network", "memory", "pids_limit", "cap_add", "allow_new_privileges",
        "docker_socket", "read_only", "mount_gitconfig", "extra_env", "extra_args", "protect_git", "protect_project"])):
    __slots__ = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "RunOptions":
        """The session's options; ToolError (BAD_SETTING) naming the first variable whose value is refused."""

        def get(name: str):
            return envspec.get("CLAUDE_DOCKER_" + name, env)

        return cls(
            image=get("IMAGE"),
            v2_image=get("V2_IMAGE"),
            v2_probability=get("V2_PROBABILITY"),
            network=get("NETWORK"),
            memory=get("MEMORY"),
            pids_limit=get("PIDS_LIMIT") or None,
            cap_add=get("CAP_ADD"),
            allow_new_privileges=get("ALLOW_NEW_PRIVILEGES"),
            docker_socket=get("DOCKER_SOCKET"),
            read_only=get("READ_ONLY"),
            mount_gitconfig=get("GITCONFIG"),
            extra_env=get("ENV"),
            extra_args=get("RUN_ARGS"),
            # The project's self-running places (boundary/project.py): git's hooks and config read-only, and
            # the project's Claude settings, MCP servers and commands reviewed when the session ends.
            protect_git=get("PROTECT_GIT"),
            protect_project=get("PROTECT_PROJECT"),
        )

    def pick_slot(self, rand: float | None = None) -> tuple[str, str]:
        """The image slot for one session: ("v2", candidate) with the configured share, else ("v1", stable)."""
        if self.v2_image and self.v2_probability > 0:
            if (random.random() if rand is None else rand) < self.v2_probability:
                return "v2", self.v2_image
        return "v1", self.image
