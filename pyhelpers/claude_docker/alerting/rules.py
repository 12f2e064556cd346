"""The one definition of the alert rules: what each watches, its threshold, window, `for:` and severity.

Our evaluator reads them through `Rule.evaluate` over a Store (the metrics log's rollup), and
`claude-docker alert rules --prometheus` renders the same rules as PromQL (promrules.py), so a team's Prometheus
and the workstation alert on the same conditions. A condition is one of a few kinds that mean the same in both
(conditions.py): a ratio of increases, an increase, a gauge, an age, a histogram quantile. A rule's further
conditions are joined with `and on()`: each is true or false as a whole. What the kinds can't say (the rollout's
recording rules, a `changes()`, a metric only node_exporter has) is kept here as Prometheus-only PromQL:
`evaluable` is False and our evaluator leaves those to Prometheus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol

from claude_docker import exitcodes
from claude_docker.alerting import templates
from claude_docker.alerting.conditions import Age, Condition, Gauge, Increase, Quantile, Ratio, Selector
from claude_docker.alerting.durations import parse_duration
from claude_docker.alerting.model import SEVERITIES
from claude_docker.errors import ToolError

Series = list[tuple[dict[str, str], float]]


class Store(Protocol):
    """What a rule reads. Histograms are read as their counters "<name>_bucket" (labels include "le" as
    Prometheus writes it, "+Inf" too) and "<name>_count"."""

    def increase(self, metric: str, seconds: float, now: float) -> Series:
        """Per series of a counter: its increase over (now-seconds, now]."""
        ...

    def gauge(self, metric: str, now: float) -> Series:
        """The latest value per series."""
        ...


# --- rules ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """An alert. `conditions[0]` gives the alert's labels and value; further conditions are `and on()`. A rule with
    `expr` is Prometheus-only (its PromQL as written): `evaluable` is False, `evaluate` answers []. `note` is the
    comment above it in the rendered file."""

    name: str
    severity: str
    for_s: float
    keep_firing_for_s: float
    summary: str
    runbook: str
    group: str
    conditions: tuple[Condition, ...] = ()
    expr: str = ""
    note: str = ""

    @property
    def evaluable(self) -> bool:
        return not self.expr

    def evaluate(self, store: Store, now: float) -> Series:
        """The active elements: (labels, without alertname and severity; value); [] when the condition is false."""
        if not self.evaluable:
            return []
        first = self.conditions[0].evaluate(store, now)
        if not first or not all(c.evaluate(store, now) for c in self.conditions[1:]):
            return []
        return first

    def promql(self) -> str:
        return self.expr or " and on() ".join(c.promql() for c in self.conditions)

    def describe(self, labels: dict[str, str], value: float) -> str:
        """The summary as Prometheus' templating would fill it for this element."""
        return templates.expand(self.summary, labels, value)


@dataclass(frozen=True)
class Recording:
    """A Prometheus recording rule the rendered file keeps (the dashboard and the rollout's tests read them)."""

    record: str
    expr: str
    group: str
    note: str = ""


S = Selector.parse
MAIN, ROLLOUT, GITOPS = "claude-docker", "claude-docker-rollout", "claude-docker-gitops"
MIN, HOUR, DAY = 60.0, 3600.0, 86400.0
SESSIONS = "claude_docker_sessions_total"
STARTUP = S("claude_docker_session_startup_seconds")
FULL_BACKUP = S('claude_docker_backup_last_success_timestamp_seconds{scope="full"}')
GITOPS_SUCCESS = S("claude_docker_gitops_last_success_timestamp_seconds")
CANARY_SESSIONS = "claude_docker_rollout_sessions_total"

RECORDING_RULES = (
    Recording("deployment_slot:claude_docker_rollout_sessions:rate5m",
              f"sum by (deployment, slot) (rate({CANARY_SESSIONS}[5m]))", ROLLOUT),
    Recording("deployment_slot:claude_docker_rollout_errors:ratio_rate5m",
              f'(sum by (deployment, slot) (rate({CANARY_SESSIONS}{{class="error"}}[5m]))\n'
              "    or deployment_slot:claude_docker_rollout_sessions:rate5m * 0)\n"
              "  / deployment_slot:claude_docker_rollout_sessions:rate5m", ROLLOUT,
              "0, not absent, for a slot that had sessions and no error: the baseline comparison needs both slots."),
)


def default_rules() -> list[Rule]:
    """The rules on by default: the seed's (000 §3.5) with its numbers, and those the capabilities need."""
    def rule(name, severity, summary, runbook, *conditions, for_s=0.0, group=MAIN, expr="", note=""):
        return Rule(name, severity, for_s, 0.0, summary, runbook, group, tuple(conditions), expr, note)

    return [
        # --- high
        rule("ClaudeDockerErrorRateHigh", "high",
             "{{ $value | humanizePercentage }} of recent claude sessions failed",
             "claude-docker doctor; the session.end events name each failure",
             Ratio(S(f'{SESSIONS}{{outcome=~"error|tool_failed|sync_failed"}}'), S(SESSIONS), 5 * MIN, ">", 0.05),
             for_s=5 * MIN),
        rule("ClaudeDockerNoSuccessfulRun", "high",
             "claude was run in the last hour, but no session has ended well for {{ $value | humanizeDuration }}",
             "claude-docker doctor; the session.end events in ~/.claude-docker-events.jsonl say how each one ended",
             Age(S("claude_docker_last_success_timestamp_seconds"), HOUR),
             Increase(S(SESSIONS), HOUR, ">", 0),
             note="Only while claude is being run (not at night): sessions in the hour, none ended well."),
        rule("ClaudeDockerOrphanedContainers", "high", "{{ $value }} containers whose wrapper is gone",
             "claude-docker cleanup",
             Gauge(S('claude_docker_containers{state="orphaned"}'), ">=", 5)),
        rule("ClaudeDockerDataCorruption", "high",
             "A session wrote invalid or unsafe config; it was kept aside in ~/.claude-docker/quarantine",
             "ls ~/.claude-docker/quarantine: what was kept aside, and why; claude-docker doctor counts it",
             Increase(S("claude_docker_sync_quarantined_total"), 15 * MIN, ">", 0)),
        rule("ClaudeDockerConfigCorrupt", "high", "A claude start found Claude Code's config broken",
             "claude-dr (docs/RECOVERY.md)",
             Increase(S("claude_docker_config_corruption_total"), HOUR, ">", 0)),
        rule("ClaudeDockerGitOpsFailing", "high",
             "GitOps reconciles have failed for 30 minutes: the config is not following the repository",
             "claude-docker gitops status names the last error; claude-docker gitops audit has the history",
             Age(GITOPS_SUCCESS, 30 * MIN), Increase(S("claude_docker_gitops_failures_total"), 30 * MIN, ">", 0),
             group=GITOPS,
             note="The reconcile loop has failed for 30 minutes on end: its last success is older than that and a\n"
                  "failure came since (a loop that isn't running at all has no fresh failures: ClaudeDockerGitOpsStale"
                  "\nsays so)."),
        # --- critical
        rule("ClaudeDockerStartupCritical", "critical",
             "p95 session startup is {{ $value | humanizeDuration }}: critical, a canary rollout is rolled back",
             "claude-docker rollout status; claude-docker doctor (image pulls, the Docker engine's load)",
             Quantile(0.95, STARTUP, 15 * MIN, ">", 15), for_s=5 * MIN),
        # --- medium
        rule("ClaudeDockerStartupSlow", "medium", "p95 session startup is {{ $value | humanizeDuration }}",
             "claude-docker doctor; claude-docker trace shows where a slow start spent its time",
             Quantile(0.95, STARTUP, 15 * MIN, ">", 10), for_s=5 * MIN),
        rule("ClaudeDockerDiskUsageHigh", "medium",
             "The disk holding {{ $labels.path }} is {{ $value | humanizePercentage }} full",
             "df -h; claude-docker cleanup; docker system prune for Docker's data",
             Gauge(S("claude_docker_disk_usage_ratio"), ">", 0.8, by=("path",)), for_s=15 * MIN,
             note="path=state: the file system of ~/.claude-docker; path=docker: Docker's data root."),
        rule("ClaudeDockerSyncFailures", "medium", "{{ $value }} config sync failures in the last hour",
             "claude-docker cleanup retries them; claude-docker doctor says why",
             Increase(S("claude_docker_sync_failures_total"), HOUR, ">=", 3)),
        rule("ClaudeDockerExportBacklog", "medium",
             "The {{ $labels.sink }} exporter is {{ $value | humanize }}B behind: its spool is growing",
             "claude-docker flush says why the exporter fails; check its endpoint and credentials",
             Gauge(S("claude_docker_export_backlog_bytes"), ">", 64 * 1024 * 1024, by=("sink",)), for_s=HOUR),
        rule("ClaudeDockerHelperErrors", "medium",
             "The helper hit {{ $value }} unexpected error(s) in `{{ $labels.command }}` in the last hour",
             "claude-docker errors groups them with their stack; report it with that output",
             Increase(S("claude_docker_helper_errors_total"), HOUR, ">", 0, by=("command",))),
        rule("ClaudeDockerRecoveryPointMissed", "medium",
             "No full backup of the Claude state for {{ $value | humanizeDuration }}: the 1-hour recovery point is "
             "missed",
             "claude-docker backup create; the backup.failed events say why automatic ones failed",
             Age(FULL_BACKUP, 2 * HOUR), for_s=10 * MIN),
        rule("ClaudeDockerMetricsFileUnreadable", "medium",
             "node_exporter cannot read a textfile (is claude_docker.prom world-readable?)",
             "ls -l the textfile directory; claude-docker metrics collect rewrites it",
             expr="node_textfile_scrape_error == 1", for_s=15 * MIN,
             note="Prometheus-only: node_exporter's own metric."),
        # --- low
        rule("ClaudeDockerBackupStale", "low",
             "The newest full backup is {{ $value | humanizeDuration }} old",
             "claude-docker backup create; claude-docker backup list shows what there is",
             Age(FULL_BACKUP, DAY)),
        # --- the rollout's
        rule("ClaudeDockerCanaryErrorRateHigh", "high",
             "Canary {{ $labels.deployment }}: {{ $value | humanizePercentage }} of its sessions failed in 5 minutes",
             "claude-docker rollout status; the session.end events say each session's rollout_class",
             Ratio(S(f'{CANARY_SESSIONS}{{slot="v2",class="error"}}'), S(f'{CANARY_SESSIONS}{{slot="v2"}}'),
                   5 * MIN, ">", 0.1, by=("deployment", "slot"), min_count=5),
             group=ROLLOUT),
        rule("ClaudeDockerCanaryWorseThanBaseline", "high",
             "Canary {{ $labels.deployment }}: its error rate is {{ $value | humanizePercentage }} above the stable "
             "image's", "claude-docker rollout status",
             group=ROLLOUT, note="Prometheus-only: the difference of two slots' ratios.",
             expr='deployment_slot:claude_docker_rollout_errors:ratio_rate5m{slot="v2"}\n'
                  '    - ignoring (slot) deployment_slot:claude_docker_rollout_errors:ratio_rate5m{slot="v1"} > 0.05\n'
                  '  and on (deployment) deployment_slot:claude_docker_rollout_sessions:rate5m{slot="v2"} * 300 >= 5\n'
                  '  and on (deployment) deployment_slot:claude_docker_rollout_sessions:rate5m{slot="v1"} * 300 >= 5'),
        rule("ClaudeDockerCanaryStartupSlow", "high",
             "p95 startup of canary sessions above 15 s ({{ $value | humanizeDuration }})",
             "claude-docker rollout status shows p95 start per slot",
             Quantile(0.95, S('claude_docker_session_startup_seconds{slot="v2"}'), 5 * MIN, ">", 15),
             Increase(S('claude_docker_session_startup_seconds_count{slot="v2"}'), 5 * MIN, ">=", 5),
             Gauge(S("claude_docker_rollout_canary_weight"), ">", 0),
             group=ROLLOUT,
             note="Only with a rollout in progress (the v2 slot of CLAUDE_DOCKER_V2_IMAGE alone is no canary) and 5\n"
                  "candidate starts in the window, as the gate itself wants."),
        rule("ClaudeDockerRolloutRolledBack", "medium",
             "A canary rollout was rolled back: new sessions get the stable image again",
             "claude-docker rollout status names the gate that failed; the rollout.gate events say why",
             Increase(S('claude_docker_rollout_transitions_total{transition="rolled_back"}'), 15 * MIN, ">", 0),
             group=ROLLOUT),
        rule("ClaudeDockerRolloutStalled", "medium",
             "A canary has held at {{ $value | humanizePercentage }} of sessions for over a day",
             "claude-docker rollout status says which gate holds it; claude-docker rollout watch promotes on time",
             group=ROLLOUT, for_s=DAY,
             expr='claude_docker_rollout_canary_weight{mode="auto"} > 0\n'
                  '  and changes(claude_docker_rollout_canary_weight{mode="auto"}[30m]) == 0',
             note="Prometheus-only (changes()). A rollout stepping by itself (not one set by hand, which holds by\n"
                  "design) has held on one step for a day: its analyses stay inconclusive (too few sessions) or fail\n"
                  "under the failure limit. The progress deadline (7 days) rolls it back in the end; this says so "
                  "sooner."),
        # --- gitops
        rule("ClaudeDockerGitOpsRolledBack", "medium", "A GitOps apply failed its check and was rolled back",
             "claude-docker gitops audit shows the revision and why; fix it in the repository",
             Increase(S('claude_docker_gitops_failures_total{reason="rolled_back"}'), 15 * MIN, ">", 0), group=GITOPS),
        rule("ClaudeDockerGitOpsStale", "medium", "No GitOps reconcile has succeeded for a day (is the loop running?)",
             "systemctl --user status claude-docker-gitops; claude-docker gitops status",
             Age(GITOPS_SUCCESS, DAY), group=GITOPS),
        rule("ClaudeDockerConfigDrift", "low",
             "{{ $value }} managed config item(s) changed locally, kept instead of the repository's",
             "claude-docker gitops drift names them; commit them, or reconcile --force",
             Gauge(S("claude_docker_gitops_drift_items"), ">", 0), for_s=HOUR, group=GITOPS),
    ]


# --- the user's overrides ---------------------------------------------------------------------------------------
KEYS = ("threshold", "window", "for", "keep_firing_for", "severity", "enabled")
MAX_WINDOW_S = 24 * 3600.0  # the rollup keeps 26 h of minute buckets (rollup.RETENTION_S)


def load_rules(overrides: dict) -> list[Rule]:
    """The rules in force: the defaults with the user's [rules] table applied, disabled ones left out.
    `overrides`: {"RuleName": {"threshold": 0.1, "window": "10m", "for": "10m", "keep_firing_for": "5m",
    "severity": "critical", "enabled": False}}. Anything else → ToolError(one line naming rule and key)."""
    if not isinstance(overrides, dict):
        raise ToolError("alerting.toml: [rules] must be a table of rule names", exitcodes.ALERT_CONFIG)
    rules = {r.name: r for r in default_rules()}
    for name in overrides:
        if name not in rules:
            raise ToolError(f"alerting.toml [rules]: unknown rule {name!r} (`claude-docker alert rules` lists them)",
                            exitcodes.ALERT_CONFIG)
    out = []
    for name, rule in rules.items():
        table = overrides.get(name, {})
        if not isinstance(table, dict):
            raise ToolError(f"alerting.toml [rules.{name}]: must be a table of settings", exitcodes.ALERT_CONFIG)
        if table.get("enabled", True) is False:
            _check(rule, table)
            continue
        out.append(_check(rule, table))
    return out


def _check(rule: Rule, table: dict) -> Rule:
    for key, value in table.items():
        try:
            rule = _apply(rule, key, value)
        except (ValueError, TypeError) as exc:
            raise ToolError(f"alerting.toml [rules.{rule.name}] {key}: {exc}", exitcodes.ALERT_CONFIG) from None
    return rule


def _duration(value: object) -> float:
    if not isinstance(value, str):
        raise ValueError(f"want a duration such as \"10m\", got {value!r}")
    return parse_duration(value)


def _apply(rule: Rule, key: str, value: object) -> Rule:
    if key not in KEYS:
        raise ValueError(f"unknown setting (one of {', '.join(KEYS)})")
    if key == "enabled":
        if not isinstance(value, bool):
            raise ValueError(f"want true or false, got {value!r}")
        return rule
    if key == "severity":
        if value not in SEVERITIES:
            raise ValueError(f"want one of {', '.join(SEVERITIES)}, got {value!r}")
        return replace(rule, severity=value)
    if key == "for":
        return replace(rule, for_s=_duration(value))
    if key == "keep_firing_for":
        return replace(rule, keep_firing_for_s=_duration(value))
    if not rule.evaluable:
        raise ValueError("this rule's PromQL is fixed (Prometheus-only): only for, keep_firing_for, severity, enabled")
    first = rule.conditions[0]
    if key == "window":
        if first.window is None:
            raise ValueError("this rule reads a current value: it has no window")
        window = _duration(value)
        if window > MAX_WINDOW_S:  # what the rollup keeps: a longer window would read less than it says
            raise ValueError(f"at most {MAX_WINDOW_S / 3600:g}h (what the alert rollup keeps)")
        return replace(rule, conditions=(replace(first, window=window),) + rule.conditions[1:])
    if isinstance(first, Age) and isinstance(value, str):
        threshold = parse_duration(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        threshold = float(value)
    else:
        raise ValueError(f"want a number{' or a duration' if isinstance(first, Age) else ''}, got {value!r}")
    return replace(rule, conditions=(replace(first, threshold=threshold),) + rule.conditions[1:])
