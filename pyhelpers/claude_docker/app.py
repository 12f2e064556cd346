"""The click application: a group whose subcommands are imported only when called."""

from __future__ import annotations

import click

from claude_docker import __version__

COMMANDS = {
    "run": "claude_docker.commands.run",
    "backup": "claude_docker.commands.backup",
    "dr": "claude_docker.commands.dr",
    "ps": "claude_docker.commands.ps",
    "cleanup": "claude_docker.commands.cleanup",
    "doctor": "claude_docker.commands.doctor",
    "image": "claude_docker.commands.image",
    "log-event": "claude_docker.commands.log_event",
    "metrics": "claude_docker.commands.metrics",
    "trace": "claude_docker.commands.trace",
    "datadog": "claude_docker.commands.datadog",
    "health": "claude_docker.commands.health",
    "flush": "claude_docker.commands.flush",
    "held": "claude_docker.commands.held",
    "egress": "claude_docker.commands.egress",
    "rollout": "claude_docker.commands.rollout",
    "gitops": "claude_docker.commands.gitops",
    "alert": "claude_docker.commands.alert",
    "incident": "claude_docker.commands.incident",
    "errors": "claude_docker.commands.errors",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        from importlib import import_module

        return import_module(module).cli


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="claude-docker")
def cli() -> None:
    """Run Claude Code in a hardened Docker container for the current project.

    \b
    Configuration comes from the environment (CLAUDE_DOCKER_IMAGE, CLAUDE_DOCKER_NETWORK,
    CLAUDE_DOCKER_STATE_DIR, ...): see the README for the full list and the exit statuses.
    """
