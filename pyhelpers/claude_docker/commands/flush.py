"""`claude-docker flush`: bring every observability sink up to date, then one pass of the alert rules (run in the
background after sessions and operations)."""

from __future__ import annotations

import click


@click.command()
@click.option("--quiet", is_flag=True, help="Print nothing (for background runs).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def cli(quiet: bool, as_json: bool) -> int:
    """Fold metrics, write the textfile, push, export traces by OTLP, send to Datadog (as configured); then
    evaluate the alert rules and deliver their notifications (unless CLAUDE_DOCKER_ALERTS=0)."""
    from claude_docker import envspec, ui
    from claude_docker.obs import flush

    # Every setting first, as `claude` does (the sinks read many): one line and 125, not one per sink.
    envspec.check_all()
    result = flush.flush()
    if envspec.get("CLAUDE_DOCKER_ALERTS"):
        from claude_docker.alerting import run
        from claude_docker.errors import ToolError

        try:
            result["alerts"] = run.run()
            result["errors"] += result["alerts"].get("problems", [])
        except ToolError as exc:  # (a state file that can't be written: one line, as every command says it)
            result["errors"].append(f"alerts: {exc.message}")
        except Exception as exc:  # noqa: BLE001 - the sinks were flushed: a bug in the pass is tracked, one line
            from claude_docker.cli import save_crash

            result["errors"].append(f"alerts: internal error ({type(exc).__name__}); details in "
                                    f"{save_crash(['flush'])}")
    if as_json and not quiet:
        ui.print_json(result)
    elif not quiet:
        for error in result["errors"]:
            ui.error(error)
    return 1 if result["errors"] else 0
