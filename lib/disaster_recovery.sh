# ============================================================================================
# Disaster recovery (seed 3.2): verified backups of Claude Code's state, one-command recovery.
# Thin shims over the helper; `claude-dr` is the one a person types.
# ============================================================================================

# Summary: the whole runbook: find what is broken, stop orphans, restore from the newest good backup,
# verify, report the recovery time. Asks first unless --yes.
# Usage: disaster_recovery [--yes] [--no-smoke] [--json]
function disaster_recovery {
  _claude_docker_helper dr "$@"
}

# Summary: one-command disaster recovery (the same runbook as disaster_recovery).
# Usage: claude-dr [--yes] [--no-smoke] [--json]
function claude-dr {
  _claude_docker_helper dr "$@"
}

# Summary: print the id of the newest backup that verifies; say on stderr why each newer one was skipped.
# Usage: find_good_backup [--json]
function find_good_backup {
  _claude_docker_helper backup find-good "$@"
}

# Summary: restore a backup (default: the newest good one); the current state is backed up first.
# Usage: restore_from_backup [ID] [--repair] [--force-credentials] [--dry-run] [--json]
function restore_from_backup {
  _claude_docker_helper backup restore "$@"
}

# Summary: check the config parses, the newest good backup's files are present, and the image runs.
# Usage: verify_recovery [--no-smoke] [--json]
function verify_recovery {
  _claude_docker_helper backup verify-recovery "$@"
}
