"""`claude-docker trace start`: begin a trace that later commands and `claude` runs join."""

from __future__ import annotations

import os

import click


@click.group()
def cli() -> None:
    """Distributed traces (W3C trace context)."""


@cli.command()
@click.argument("name", default="shell")
@click.option("--shell", "as_shell", is_flag=True, help="Print an `export TRACEPARENT=...` line to eval.")
def start(name: str, as_shell: bool) -> int:
    """Start a trace (a child of TRACEPARENT's, if set) and print its traceparent.

    Everything run with that TRACEPARENT in its environment joins the trace: log_event calls,
    and each `claude` session (whose own span becomes a child of this one).
    """
    from claude_docker.obs import context, events, settings
    from claude_docker.obs.tracing import Tracer

    tracer = Tracer(name, os.environ.get("TRACEPARENT"))
    tracer.root.end()
    context.bind(trace_id=tracer.trace_id, span_id=tracer.root.span_id)
    if settings.enabled():
        tracer.write(settings.traces_file())
    events.emit("trace.start", f"trace {name} started")
    traceparent = tracer.traceparent()
    print(f"export TRACEPARENT={traceparent}" if as_shell else traceparent)
    return 0
