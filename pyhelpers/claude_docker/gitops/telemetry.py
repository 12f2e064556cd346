"""What every reconcile tells: the end of its trace and event, and the `claude_docker_gitops_*` metrics the
alert rules and the dashboard read (last success, revision time, drift, held items, failures)."""

from __future__ import annotations

import time

from claude_docker import exitcodes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from claude_docker.errors import ToolError

# Exit status -> the failure's label (bounded: no messages, no paths).
_REASONS = {exitcodes.GITOPS_SOURCE: "source", exitcodes.GITOPS_INVALID: "invalid",
            exitcodes.GITOPS_SECRETS: "secrets", exitcodes.GITOPS_ROLLED_BACK: "rolled_back",
            exitcodes.GITOPS_BUSY: "busy"}


def cycle(report: dict, exc: ToolError | None, log) -> None:
    from claude_docker.obs.catalog import observe

    result = report["result"] or "failed"
    observe("claude_docker_gitops_reconciles_total", 1, result=result.replace("-", "_"))
    if exc is not None:
        observe("claude_docker_gitops_failures_total", 1, reason=_REASONS.get(exc.code, "apply"))
        log.finish("error", exc.message, result=result, revision=report["revision"])
        return
    if result != "waiting":  # (waiting out a failed revision's backoff is no success: the alert must still fire)
        observe("claude_docker_gitops_last_success_timestamp_seconds", time.time())
    observe("claude_docker_gitops_drift_items", len(report["drift"]))
    observe("claude_docker_gitops_held_items", len(report["held"]))
    if report.get("revision_time"):
        observe("claude_docker_gitops_revision_timestamp_seconds", report["revision_time"])
    message = f"{result} at {(report['revision'] or '-')[:12]}"
    log.finish("ok", message, result=result, revision=report["revision"], applied=len(report["applied"]),
               held=len(report["held"]), drift=len(report["drift"]), pruned=len(report["pruned"]))
    if report["drift"]:
        from claude_docker.obs import events

        events.emit("gitops.drift", f"{len(report['drift'])} managed item(s) changed here since the last apply",
                    level="warning", fields={"items": [d["item"] for d in report["drift"]][:50]})
