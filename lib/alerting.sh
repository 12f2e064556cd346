# ============================================================================================
# Alerting (seed 3.5): rules over what claude-docker records, sent to desktop, Slack, mail, Alertmanager
# or a webhook, throttled and escalated; incidents. Thin shim over `claude-docker alert` (docs/ALERTING.md).
# ============================================================================================

# Summary: send your own alert through the same pipeline (dedup by its labels, throttling, the outbox).
# Usage: alert critical|high|medium|low MESSAGE [KEY=VALUE ...]
function alert {
  _claude_docker_helper alert send "$@"
}
