"""completions/_claude-docker is static (no process on TAB), so nothing keeps it true but this: every
subcommand of a command group has its options function, offering exactly the long options click accepts."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from claude_docker.app import cli

COMPLETION = (Path(__file__).resolve().parents[2] / "completions" / "_claude-docker").read_text()


def completed_options(group: str, sub: str) -> set[str] | None:
    m = re.search(rf"^_claude-docker_opts_{re.escape(group)}_{re.escape(sub)}\(\) \{{\n(.*?)^\}}", COMPLETION,
                  re.M | re.S)
    return None if m is None else set(re.findall(r"(--[a-z][a-z0-9-]*)", m.group(1)))


def subcommands():
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        group = cli.get_command(ctx, name)
        if isinstance(group, click.Group):
            for sub, command in group.commands.items():
                yield name, sub, command


@pytest.mark.parametrize(("group", "sub", "command"), list(subcommands()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_each_group_subcommand_completes_exactly_its_options(group, sub, command):
    accepted = {opt for param in command.params if isinstance(param, click.Option)
                for opt in [*param.opts, *param.secondary_opts] if opt.startswith("--")} | {"--help"}
    offered = completed_options(group, sub)
    assert offered is not None, f"completions/_claude-docker has no _claude-docker_opts_{group}_{sub}"
    assert offered == accepted
