"""`claude-docker doctor`: is everything in place for `claude` to work, and what to do if not."""

from __future__ import annotations

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def cli(as_json: bool) -> int:
    """Check Docker, the image, the host's Claude config, disk space, orphans and the install.

    Exit status 1 if something needs fixing; each problem names its fix.
    """
    from claude_docker import exitcodes, ui
    from claude_docker.checks import run_checks
    from claude_docker.errors import ToolError
    from claude_docker.obs import events

    checks = run_checks()
    failed = any(c.status == "fail" for c in checks)
    try:
        events.emit("doctor", "checks run", level="warn" if failed else "info", outcome="fail" if failed else "ok",
                    fields={"failed": [c.name for c in checks if c.status == "fail"]})
    except ToolError:
        pass  # a refused observability setting: listed among the checks, which is doctor's answer

    if as_json:
        ui.print_json({"ok": not failed, "checks": [c.to_json() for c in checks]})
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            ui.say(f"{c.name.ljust(width)}  {c.detail}", c.status)
            if c.fix and c.status != "ok":
                ui.say(f"  {' ' * width}  fix: {c.fix}")
    return exitcodes.FAILURE if failed else exitcodes.OK
