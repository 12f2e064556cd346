"""Run options, read from CLAUDE_DOCKER_* environment variables (all listed in the README)."""

from __future__ import annotations

import random

from claude_docker import DEFAULT_IMAGE, envspec

# Not typing's TYPE_CHECKING: this module is on `claude`'s start, where typing's import costs ~5 ms
# (mypy knows the name). For the same reason RunOptions is a plain class, not a typing.NamedTuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DEFAULT_IMAGE", "RunOptions"]


class RunOptions:
    """One session's settings, each parsed and checked by envspec's table."""

    __slots__ = ("allow_new_privileges", "cap_add", "docker_socket", "extra_args", "extra_env", "image", "image_chosen",
                 "memory", "mount_gitconfig", "network", "pids_limit", "protect_git", "protect_project", "read_only",
                 "v2_image", "v2_probability")

    def __init__(self, *, image: str, v2_image: str | None, v2_probability: float, network: str,
                 memory: str | None, pids_limit: int | None, cap_add: tuple[str, ...], allow_new_privileges: bool,
                 docker_socket: bool, read_only: bool, mount_gitconfig: bool, extra_env: tuple[str, ...],
                 extra_args: tuple[str, ...], protect_git: bool, protect_project: bool, image_chosen: bool = False
                 ) -> None:
        self.image = image
        # The user set CLAUDE_DOCKER_IMAGE (even to the default): a project's file then picks nothing.
        self.image_chosen = image_chosen
        self.v2_image = v2_image
        self.v2_probability = v2_probability
        self.network = network
        self.memory = memory  # None: no limit
        self.pids_limit = pids_limit  # None: no limit
        self.cap_add = cap_add
        self.allow_new_privileges = allow_new_privileges
        self.docker_socket = docker_socket
        self.read_only = read_only
        self.mount_gitconfig = mount_gitconfig
        self.extra_env = extra_env
        self.extra_args = extra_args
        # The project's self-running places (boundary/project.py): git's hooks and config read-only, and
        # the project's Claude settings, MCP servers and commands reviewed when the session ends.
        self.protect_git = protect_git
        self.protect_project = protect_project

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunOptions:
        """The session's options; ToolError (BAD_SETTING) naming the first variable whose value is refused."""

        def get(name: str):
            return envspec.get("CLAUDE_DOCKER_" + name, env)

        return cls(
            image=get("IMAGE"),
            image_chosen=envspec.is_set("CLAUDE_DOCKER_IMAGE", env),
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
            protect_git=get("PROTECT_GIT"),
            protect_project=get("PROTECT_PROJECT"),
        )

    def pick_slot(self, rand: float | None = None) -> tuple[str, str]:
        """The image slot for one session: ("v2", candidate) with the configured share, else ("v1", stable)."""
        if self.v2_image and self.v2_probability > 0 and (
                (random.random() if rand is None else rand) < self.v2_probability):
            return "v2", self.v2_image
        return "v1", self.image
