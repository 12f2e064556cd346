"""Run options, read from CLAUDE_DOCKER_* environment variables (all listed in the README)."""

from __future__ import annotations

import os
import random
import shlex
from collections import namedtuple

from claude_docker import CLAUDE_CODE_VERSION, exitcodes
from claude_docker.errors import ToolError

DEFAULT_IMAGE = f"claude-docker/claude-code:{CLAUDE_CODE_VERSION}"
DEFAULT_NETWORK = "bridge"
DEFAULT_MEMORY = "8g"
DEFAULT_PIDS_LIMIT = 1024


def _flag(env: dict, name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _names(raw: str) -> tuple[str, ...]:
    return tuple(n for n in raw.replace(",", " ").split() if n)


_FIELDS = ("image v2_image v2_probability network memory pids_limit cap_add allow_new_privileges docker_socket"
           " read_only mount_gitconfig extra_env extra_args protect_git protect_project")


def _on_unless_off(env: dict, name: str) -> bool:
    return env.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


class RunOptions(namedtuple("RunOptions", _FIELDS)):
    __slots__ = ()

    @classmethod
    def from_env(cls, env: dict | None = None) -> "RunOptions":
        env = os.environ if env is None else env

        def bad(name: str, why: str) -> ToolError:
            return ToolError(f"{name}={env.get(name)!r}: {why}", exitcodes.TOOL_FAILED)

        try:
            prob = float(env.get("CLAUDE_DOCKER_V2_PROBABILITY") or 0)
        except ValueError:
            raise bad("CLAUDE_DOCKER_V2_PROBABILITY", "not a number between 0 and 1") from None
        if not 0.0 <= prob <= 1.0:
            raise bad("CLAUDE_DOCKER_V2_PROBABILITY", "not a number between 0 and 1")

        memory = env.get("CLAUDE_DOCKER_MEMORY", DEFAULT_MEMORY).strip()
        memory = None if memory in ("", "0", "none") else memory
        raw_pids = env.get("CLAUDE_DOCKER_PIDS_LIMIT", str(DEFAULT_PIDS_LIMIT)).strip()
        try:
            pids = int(raw_pids or 0)
        except ValueError:
            raise bad("CLAUDE_DOCKER_PIDS_LIMIT", "not a whole number (0 means no limit)") from None
        try:
            extra_args = tuple(shlex.split(env.get("CLAUDE_DOCKER_RUN_ARGS", "")))
        except ValueError as exc:
            # Not echoed: it may hold `-e KEY=secret`.
            raise ToolError(f"CLAUDE_DOCKER_RUN_ARGS: cannot split it as shell words ({exc})",
                            exitcodes.TOOL_FAILED) from None

        return cls(
            image=env.get("CLAUDE_DOCKER_IMAGE") or DEFAULT_IMAGE,
            v2_image=env.get("CLAUDE_DOCKER_V2_IMAGE") or None,
            v2_probability=prob,
            network=env.get("CLAUDE_DOCKER_NETWORK") or DEFAULT_NETWORK,
            memory=memory,
            pids_limit=pids if pids > 0 else None,
            cap_add=_names(env.get("CLAUDE_DOCKER_CAP_ADD", "")),
            allow_new_privileges=_flag(env, "CLAUDE_DOCKER_ALLOW_NEW_PRIVILEGES"),
            docker_socket=_flag(env, "CLAUDE_DOCKER_DOCKER_SOCKET"),
            read_only=_flag(env, "CLAUDE_DOCKER_READ_ONLY"),
            mount_gitconfig=_on_unless_off(env, "CLAUDE_DOCKER_GITCONFIG"),
            extra_env=_names(env.get("CLAUDE_DOCKER_ENV", "")),
            extra_args=extra_args,
            # The project's self-running places (boundary/project.py): git's hooks and config read-only, and
            # the project's Claude settings, MCP servers and commands reviewed when the session ends.
            protect_git=_on_unless_off(env, "CLAUDE_DOCKER_PROTECT_GIT"),
            protect_project=_on_unless_off(env, "CLAUDE_DOCKER_PROTECT_PROJECT"),
        )

    def pick_slot(self, rand: float | None = None) -> tuple[str, str]:
        """The image slot for one session: ("v2", candidate) with the configured share, else ("v1", stable)."""
        if self.v2_image and self.v2_probability > 0:
            if (random.random() if rand is None else rand) < self.v2_probability:
                return "v2", self.v2_image
        return "v1", self.image
