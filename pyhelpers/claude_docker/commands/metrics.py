"""`claude-docker metrics collect | serve`: Prometheus metrics as a textfile, a push, or an endpoint."""

from __future__ import annotations

import click


@click.group()
def cli() -> None:
    """Prometheus metrics of every claude-docker operation."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def collect(as_json: bool) -> int:
    """Fold new observations into the series, write the node_exporter textfile, push to a Pushgateway.

    The textfile goes to $CLAUDE_DOCKER_TEXTFILE_DIR/claude_docker.prom; the push, when
    CLAUDE_DOCKER_PUSHGATEWAY is set, to that Pushgateway (job claude_docker, instance this host).
    """
    from claude_docker import exitcodes, ui
    from claude_docker.obs import flush, promstate

    result = promstate.publish(flush.pushgateway())  # the gateway comes back redacted, fit to print
    if as_json:
        ui.print_json(result)
    else:
        ui.say(result["textfile"])
        if result["pushgateway"]:
            ui.say(f"pushed to {result['pushgateway']}")
    if result["error"]:
        ui.error(result["error"])
        return exitcodes.FAILURE
    return exitcodes.OK


@cli.command()
@click.option("--listen", default="127.0.0.1:9479", show_default=True, metavar="HOST:PORT",
              help="Where to listen (port 0: any free port, printed on stdout).")
def serve(listen: str) -> int:
    """Serve /metrics, /health/live and /health/ready until interrupted."""
    from claude_docker import exitcodes
    from claude_docker.errors import ToolError
    from claude_docker.obs import server

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ToolError(f"--listen {listen!r}: expected HOST:PORT, the port from 0 to 65535", exitcodes.USAGE)

    def ready(address) -> None:
        print(f"http://{address[0]}:{address[1]}", flush=True)

    try:
        server.serve(host, int(port), on_ready=ready)
    except OSError as exc:
        raise ToolError(f"cannot listen on {listen}: {exc.strerror or exc}", exitcodes.FAILURE) from None
    return exitcodes.OK
