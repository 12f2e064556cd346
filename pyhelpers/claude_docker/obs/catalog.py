"""Every metric claude-docker exports: name, type, help, labels and (histograms) buckets.

Names follow Prometheus conventions (prefix claude_docker_, base units, _total for counters). Labels are
bounded sets: no session ids, no paths. The startup histogram has bucket bounds on the alert thresholds
(10 s and 15 s), so the alert rules' quantiles are exact there.
"""

from __future__ import annotations

from collections import namedtuple

Metric = namedtuple("Metric", "name kind help labels buckets", defaults=((), ()))

STARTUP_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0)
DURATION_BUCKETS = (1.0, 10.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0)
INCIDENT_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 86400.0)
SYNC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

METRICS = {m.name: m for m in (
    Metric("claude_docker_sessions_total", "counter", "Sessions run, by image slot and outcome "
           "(ok, error: Claude Code exited non-zero, interrupted, tool_failed, sync_failed).", ("slot", "outcome")),
    Metric("claude_docker_session_startup_seconds", "histogram", "Time from `claude` to the container running.",
           ("slot",), STARTUP_BUCKETS),
    Metric("claude_docker_session_duration_seconds", "histogram", "Wall time of whole sessions.",
           ("slot",), DURATION_BUCKETS),
    Metric("claude_docker_sync_duration_seconds", "histogram", "Config sync time, in or out.",
           ("direction",), SYNC_BUCKETS),
    Metric("claude_docker_sync_failures_total", "counter", "Config syncs that failed.", ("direction",)),
    Metric("claude_docker_sync_conflicts_total", "counter", "Keys both a session and the host changed."),
    Metric("claude_docker_sync_quarantined_total", "counter",
           "Invalid or unsafe files from a session kept aside instead of applied (data corruption detected)."),
    Metric("claude_docker_sync_bytes_total", "counter", "Bytes written to the host's config by sync.",),
    Metric("claude_docker_docker_errors_total", "counter", "Docker failures, by operation.", ("operation",)),
    Metric("claude_docker_image_builds_total", "counter", "Image builds, by recipe and outcome.",
           ("recipe", "outcome")),
    Metric("claude_docker_orphans_removed_total", "counter", "Orphaned containers removed by cleanup."),
    Metric("claude_docker_last_success_timestamp_seconds", "gauge",
           "When a session last ended with Claude Code exiting 0 (Unix time)."),
    Metric("claude_docker_backups_total", "counter", "Backups taken, by scope (full, config) and outcome.",
           ("scope", "outcome")),
    Metric("claude_docker_backup_duration_seconds", "histogram", "Time to take a backup.", ("scope",),
           SYNC_BUCKETS + (2.5, 5.0, 10.0, 30.0, 60.0)),
    Metric("claude_docker_backup_added_bytes_total", "counter", "Bytes backups added to the store (compressed)."),
    Metric("claude_docker_backup_last_success_timestamp_seconds", "gauge",
           "When a backup of this scope last succeeded (Unix time): the recovery point.", ("scope",)),
    Metric("claude_docker_config_corruption_total", "counter",
           "Times the check at a `claude` start found Claude Code's config broken."),
    Metric("claude_docker_recoveries_total", "counter",
           "Disaster recoveries, by outcome (recovered, unverified, failed).", ("outcome",)),
    Metric("claude_docker_recovery_duration_seconds", "gauge", "How long the last disaster recovery took."),
    Metric("claude_docker_egress_connections_total", "counter",
           "Connections through the egress proxy, by outcome (allowed, denied, failed).", ("outcome",)),
    Metric("claude_docker_egress_bytes_total", "counter",
           "Bytes relayed by the egress proxy, by direction (out: session to origin, in: origin to session).",
           ("direction",)),
    Metric("claude_docker_rollout_sessions_total", "counter",
           "Sessions run under a rollout, by deployment, slot (v1 stable, v2 candidate) and class (ok, error: the "
           "machinery's or the image's failure, claude_error: Claude Code's own non-zero exit, interrupted).",
           ("deployment", "slot", "class")),
    Metric("claude_docker_rollout_transitions_total", "counter",
           "Rollout transitions (started, share_set, stepped, promoted, rolled_back, restored).", ("transition",)),
    Metric("claude_docker_rollout_canary_weight", "gauge",
           "The candidate's share of new sessions (0 to 1), by mode (auto: stepping by itself, manual: set by hand, "
           "none: no rollout in progress); read from the rollout state when metrics are collected.", ("mode",)),
    Metric("claude_docker_rollout_step", "gauge",
           "The rollout's current step (from 0; -1: none in progress); read from the rollout state."),
    Metric("claude_docker_rollout_gate_checks_total", "counter",
           "Rollout gate checks, by gate (error_rate, baseline, p95_start, deadline, measurement) and verdict "
           "(pass, fail, inconclusive).", ("gate", "verdict")),
    Metric("claude_docker_gitops_reconciles_total", "counter",
           "GitOps reconciles, by result (applied, in_sync, drift, held, waiting, rolled_back, failed).", ("result",)),
    Metric("claude_docker_gitops_failures_total", "counter",
           "GitOps reconciles that failed, by reason (source, invalid, secrets, rolled_back, apply, busy).",
           ("reason",)),
    Metric("claude_docker_gitops_last_success_timestamp_seconds", "gauge",
           "When a GitOps reconcile last ended without failing (Unix time)."),
    Metric("claude_docker_gitops_revision_timestamp_seconds", "gauge",
           "The commit time of the revision last reconciled (Unix time): how old the applied config is."),
    Metric("claude_docker_gitops_drift_items", "gauge",
           "Managed files and keys changed here since the last apply (kept, not overwritten)."),
    Metric("claude_docker_gitops_held_items", "gauge",
           "Host commands from the repository held back (the commit is not signed by an allowed signer)."),
    # Alerting: see docs/ALERTING.md.
    Metric("claude_docker_notifications_total", "counter",
           "Notification attempts, by channel (desktop, slack, mail, alertmanager, webhook) and outcome "
           "(delivered, retry, gave_up).", ("channel", "outcome")),
    Metric("claude_docker_incidents_total", "counter", "Incidents opened, by severity.", ("severity",)),
    Metric("claude_docker_incident_ack_seconds", "histogram", "Time from an incident's opening to its ack.",
           (), INCIDENT_BUCKETS),
    Metric("claude_docker_incident_resolve_seconds", "histogram", "Time from an incident's opening to its end.",
           (), INCIDENT_BUCKETS),
    Metric("claude_docker_helper_errors_total", "counter",
           "Unexpected exceptions in the helper (bugs), by command (`claude-docker errors` groups them).",
           ("command",)),
    # Gauges read when metrics are collected, not from observations:
    Metric("claude_docker_containers", "gauge", "claude-docker containers on this host, by state.", ("state",)),
    Metric("claude_docker_interrupted_sessions", "gauge", "Sessions whose config is waiting to be synced back."),
    Metric("claude_docker_state_bytes", "gauge", "Size of the tool's state directory."),
    Metric("claude_docker_alerts_firing", "gauge", "Alerts of our own evaluator firing now, by severity.",
           ("severity",)),
    Metric("claude_docker_outbox_pending", "gauge", "Notifications written to the outbox, not yet delivered."),
    Metric("claude_docker_incidents_open", "gauge", "Incidents open now."),
    Metric("claude_docker_disk_usage_ratio", "gauge",
           "Used share of the file system holding the state dir (path=state) and Docker's data (path=docker).",
           ("path",)),
    Metric("claude_docker_export_backlog_bytes", "gauge",
           "Bytes of the logs an exporter (otlp, datadog) has not delivered yet: its spool.", ("sink",)),
    Metric("claude_docker_build_info", "gauge", "Always 1; the labels say what is installed.",
           ("version", "claude_code_version")),
)}


def observe(name: str, value: float, **labels: str) -> None:
    """Record one observation in ~/.claude-docker-metrics.jsonl (a counter increment, a histogram sample,
    a gauge value) with the run's trace id; the metrics fold turns them into Prometheus series."""
    from claude_docker.obs import context, jsonl, jsonline, settings

    on, path, size, keep = settings.metrics_sink()
    if not on:
        return
    metric = METRICS[name]
    if set(labels) != set(metric.labels):
        raise ValueError(f"{name} takes labels {metric.labels}, got {tuple(labels)}")
    ctx = context.current()
    record = {"time": context.utc_now(), "metric": name, "type": metric.kind, "value": value, "labels": labels,
              "trace_id": ctx["trace_id"]}
    if ctx.get("session"):
        record["session"] = ctx["session"]
    try:
        jsonl.append(path, jsonline.line(record), size, keep)
    except Exception:  # noqa: BLE001 - metrics that can't be recorded never break the operation they measure
        pass
