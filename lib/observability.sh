# ============================================================================================
# Observability (seed 3.1): events, metrics, traces, Datadog. Thin shims over the helper.
# ============================================================================================

# Summary: append a structured event; KEY=VALUE pairs keep their text exactly.
# Usage: log_event EVENT [level=info|warn|...] [message=...] [KEY=VALUE ...]
function log_event {
  _claude_docker_helper log-event "$@"
}

# Summary: fold new observations, write the node_exporter textfile, push to a Pushgateway if set.
# Usage: collect_metrics [--json]
function collect_metrics {
  _claude_docker_helper metrics collect "$@"
}

# Summary: start a trace in this shell: later log_event calls and claude runs join it (TRACEPARENT).
# Usage: start_trace [NAME]
function start_trace {
  emulate -L zsh
  local line
  # Help is for reading, not for eval.
  if (( ${argv[(I)-h|--help]} )); then _claude_docker_helper trace start "$@"; return; fi
  line=$(_claude_docker_helper trace start --shell "$@") || return
  if [[ $line != "export TRACEPARENT=00-"* || $line == *[\;\$\`\(\&\|]* ]]; then  # eval only what we expect
    print -ru2 -- "start_trace: unexpected output from claude-docker trace start"
    return 1
  fi
  eval "$line"
}

# Summary: send spooled events and metrics to Datadog (DD_API_KEY, DD_SITE).
# Usage: send_to_datadog [--json]
function send_to_datadog {
  _claude_docker_helper datadog send "$@"
}
