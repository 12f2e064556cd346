"""`claude-docker health`: liveness and readiness."""

from __future__ import annotations

import click


@click.command()
@click.option("--live", "only_live", is_flag=True, help="Liveness only: can the tool itself work?")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def cli(only_live: bool, as_json: bool) -> int:
    """Is claude-docker ready to run a session? Exit status 0 if so, 1 if not.

    live: the state dir and event log can be written. ready: also Docker answers, the image is
    present, the host's Claude config is valid and no session is waiting on a failed sync.
    """
    from claude_docker import ui
    from claude_docker.obs import health

    checks = health.live() if only_live else health.live() + health.ready()
    ok = health.is_ok(checks)
    if as_json:
        ui.print_json({"status": "ok" if ok else "fail", "checks": [c.to_json() for c in checks]})
    else:
        for c in checks:
            ui.say(f"{c.name}: {c.detail}" + (f" (fix: {c.fix})" if c.fix and c.status == "fail" else ""), c.status)
        ui.say("live" if only_live and ok else "ready" if ok else "not ready")
    return 0 if ok else 1
