"""`claude-docker dr` (the `claude-dr` and `disaster_recovery` shims): the whole recovery runbook."""

from __future__ import annotations

import sys

import click

from claude_docker import exitcodes


@click.command()
@click.option("-y", "--yes", is_flag=True, help="Recover without asking.")
@click.option("--no-smoke", is_flag=True, help="Skip the smoke run of the image in the verification.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON for machines.")
def cli(yes: bool, no_smoke: bool, as_json: bool) -> int:
    """Find what is broken in Claude Code's state, stop your orphaned sessions, restore what is missing or
    broken from the newest good backup, verify, and report the recovery time. Files that are fine are
    never touched. The plan (containers to stop, files to restore) is shown first, then one question:
    nothing changes before the answer, or --yes.

    \b
    Exit status: 0 recovered (or nothing to recover), 1 declined or failed, 4 no good backup,
    5 restored but a verification check failed.
    """
    from claude_docker import ui
    from claude_docker.backup.recovery import disaster_recovery
    from claude_docker.commands.backup import _image, _progress
    from claude_docker.errors import ToolError
    from claude_docker.paths import ClaudeHome

    def say(line: str) -> None:
        if not as_json:
            print(line, file=sys.stderr)

    def confirm(rec) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise ToolError("recovery needs an answer and there is no terminal to ask on: pass --yes",
                            exitcodes.USAGE)
        print("will restore:", file=sys.stderr)
        for key, why in rec.plan:
            print(f"  {key} ({why})", file=sys.stderr)
        return click.confirm("Recover now? (the current state is backed up first)", default=True, err=True)

    rec = disaster_recovery(ClaudeHome.from_env(), confirm, image=None if no_smoke else _image(),
                            progress=_progress("restoring"), say=say)
    if as_json:
        ui.print_json(rec.to_json())
    elif rec.outcome == "nothing_to_do":
        print("nothing to recover: Claude Code's config is sound and complete")
    elif rec.outcome == "declined":
        print("nothing changed")
    else:
        for c in rec.checks:
            print(f"{ui.mark('ok' if c.ok else 'fail')} {c.name}: {c.detail}")
        undo = f"; undo with `claude-docker backup restore {rec.pre_restore[0]}`" if rec.pre_restore else ""
        print(f"{'recovered' if rec.outcome == 'recovered' else 'restored, but not verified'}: "
              f"{len(rec.restored)} file(s) from backup {' and '.join(rec.backups)} in {rec.seconds:.2f}s "
              f"(trace {rec.trace_id}){undo}")
    return {"recovered": exitcodes.OK, "nothing_to_do": exitcodes.OK, "declined": exitcodes.FAILURE,
            "unverified": exitcodes.RECOVERY_UNVERIFIED}.get(rec.outcome, exitcodes.FAILURE)
