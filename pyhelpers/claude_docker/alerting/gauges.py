"""What the alert rules read as it is now rather than from the log: disk usage, exporters' backlog (obs/machine),
the rollout's share and containers (obs/promstate). Each is left out when it can't be read: a rule then sees no
series, never a made-up zero."""

from __future__ import annotations


def live_gauges() -> dict[str, list[tuple[dict, float]]]:
    """claude_docker_disk_usage_ratio{path=state|docker}, claude_docker_export_backlog_bytes{sink} for the
    configured exporters, claude_docker_rollout_canary_weight{mode} and _step, claude_docker_containers{state}.
    Never raises."""
    from claude_docker import engine
    from claude_docker.obs import machine

    gauges: dict[str, list[tuple[dict, float]]] = {}
    info = machine.docker_info()
    disk = machine.disk_usage(info)
    if disk:
        gauges["claude_docker_disk_usage_ratio"] = disk
    backlog = machine.export_backlogs()
    if backlog:
        gauges["claude_docker_export_backlog_bytes"] = backlog
    from claude_docker.obs.promstate import rollout_gauges

    gauges.update(rollout_gauges())  # (ClaudeDockerCanaryStartupSlow reads the canary's share)
    if info is not None or engine.socket_path() is None:  # an engine answered, or one the SDK finds its own way
        try:
            from claude_docker.obs.promstate import containers

            gauges["claude_docker_containers"] = [({"state": s}, n) for s, n in containers().items()]
        except Exception:  # noqa: BLE001 - no engine now: left out rather than reported as zero
            pass
    return gauges
