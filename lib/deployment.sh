# ============================================================================================
# Deployment (seed 3.3): canary rollout of session images, with automatic rollback.
# Thin shims over `claude-docker rollout`. An assignment before the call reaches the helper, as zsh
# exports it to the function's children: `CLAUDE_DOCKER_V2_PROBABILITY=0.1 deploy_canary` sets the share.
# ============================================================================================

# Summary: start a canary rollout of IMAGE (smoke tests, then a share that widens while the gates hold),
# or, with CLAUDE_DOCKER_V2_PROBABILITY set, set the candidate's share by hand (1.0 promotes).
# Usage: deploy_canary [IMAGE] [--steps 10,50,100] [--interval 60s] [--window 5m] [--min-sessions N]
#        [--max-error-rate R] [--max-p95-start 15s] [--baseline-margin R] [--failure-limit N]
#        [--progress-deadline 7d] [--sticky none|user|project] [--skip-smoke] [--yes] [--json]
function deploy_canary {
  _claude_docker_helper rollout deploy "$@"
}

# Summary: every new session gets the stable image again at once; sessions running on the candidate finish.
# Usage: rollback_deployment [--to previous|settings] [--json]
function rollback_deployment {
  _claude_docker_helper rollout rollback "$@"
}

# Summary: the smoke ladder, one verdict a rung; exit 0 only when every rung passes.
# Usage: run_smoke_tests [IMAGE] [--json]
function run_smoke_tests {
  _claude_docker_helper rollout smoke "$@"
}

# Summary: the deployment, its stage and share, sessions and gates per slot, and past deployments.
# Usage: track_deployment [--json] [--watch]
function track_deployment {
  _claude_docker_helper rollout status "$@"
}
