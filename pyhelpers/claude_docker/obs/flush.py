"""Bring every sink up to date: fold observations into the Prometheus series, write the node_exporter
textfile, push to a Pushgateway, export traces by OTLP, send to Datadog (each only when configured).

After a `claude` run this happens in a detached background process, so the session's end never waits
on the network or on prometheus_client's import. A sink that fails is recorded as an event and the
others go on; what it could not take stays in the logs for the next flush.
"""

from __future__ import annotations

from claude_docker import envspec
from claude_docker.obs import events, promstate, settings


def _reason(exc: Exception) -> str:
    from claude_docker.errors import describe

    return describe(exc) if isinstance(exc, OSError) and exc.errno else str(getattr(exc, "message", exc))


def pushgateway() -> str | None:
    return envspec.get("CLAUDE_DOCKER_PUSHGATEWAY")


def flush() -> dict:
    """Every sink gets its turn; one that fails (any way at all) is recorded and the others go on."""
    from claude_docker.obs import datadog, otlp

    result: dict = {"errors": []}
    try:
        published = promstate.publish(pushgateway())
        result.update(textfile=published["textfile"], observations=published["observations"],
                      pushgateway=published["pushgateway"])
        if published["error"]:
            result["errors"].append(published["error"])
    except Exception as exc:  # noqa: BLE001 - a failing sink is recorded, the others still get their turn
        result["errors"].append(f"metrics: {_reason(exc)}")
    if otlp.endpoint():
        try:
            result["otlp_traces"] = otlp.export()
        except Exception as exc:  # noqa: BLE001 - as above
            result["errors"].append(_reason(exc))
    if datadog.configured():
        try:
            report = datadog.send()
            result["datadog"] = report.to_json()
            if report.error:
                result["errors"].append(report.error)
        except Exception as exc:  # noqa: BLE001 - as above
            result["errors"].append(f"datadog: {_reason(exc)}")
    from claude_docker import redact

    # Exporters redact their own messages; an exception from anywhere else might quote a credential URL.
    result["errors"] = [redact.text(error) for error in result["errors"]]
    for error in result["errors"]:
        events.emit("telemetry.export_failed", error, level="warn", outcome="error")
    return result


def spawn_background() -> None:
    """Start a detached `claude-docker flush` and return at once."""
    if not settings.enabled() or not envspec.get("CLAUDE_DOCKER_BACKGROUND_FLUSH"):
        return
    from claude_docker.background import spawn_detached

    spawn_detached(["flush", "--quiet"])
