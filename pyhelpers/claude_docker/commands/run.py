"""`claude-docker run [--] ARGS…`: what the `claude` shell function calls."""

from __future__ import annotations

import click


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("claude_args", nargs=-1, type=click.UNPROCESSED)
def cli(claude_args: tuple[str, ...]) -> int:
    """Run Claude Code in a container for the current project; ARGS go to Claude Code untouched.

    Put `--` before ARGS that start with a dash and could be taken for this command's own (--help).
    Exit status: Claude Code's own; 125 if the tool or Docker failed before it started; 122 if the
    session's config changes could not be synced back.
    """
    from claude_docker.launcher.run import run

    return run(list(claude_args))
