# ============================================================================================
# GitOps (seed 3.4): Claude Code's config from a team's Git repository, with SOPS/age secrets.
# Thin shims over `claude-docker gitops` (docs/GITOPS.md). Set up once: `claude-docker gitops init SOURCE`.
# ============================================================================================

# Summary: SOPS-encrypt a JSON file for age recipients (.sops.yaml, SOPS_AGE_RECIPIENTS or --age).
# Usage: encrypt_secrets FILE [--age R1,R2] [--output OUT | --in-place] [--rotate]
function encrypt_secrets {
  _claude_docker_helper gitops encrypt "$@"
}

# Summary: bring Claude's config to the repository: fetch, validate, back up, apply, verify, roll back.
# Usage: reconcile_config [--once] [--force] [--no-fetch] [--json]
function reconcile_config {
  _claude_docker_helper gitops reconcile "$@"
}

# Summary: is the config as the repository says? Exit 0 in sync, 1 drift, 2 could not tell.
# Usage: detect_drift [--fetch] [--json]
function detect_drift {
  _claude_docker_helper gitops drift "$@"
}

# Summary: the hash-chained audit trail of every apply, hold-back, rollback and drift.
# Usage: audit_config_change [--verify] [--json]
function audit_config_change {
  _claude_docker_helper gitops audit "$@"
}

# Summary: reconcile every interval, at once when the source changes; SIGTERM stops it.
# Usage: gitops_reconcile_loop
function gitops_reconcile_loop {
  _claude_docker_helper gitops loop "$@"
}
