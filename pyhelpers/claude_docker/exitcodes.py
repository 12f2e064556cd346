"""Exit statuses of claude-docker, documented in the README. Claude Code's own status passes through `run`."""

OK = 0
FAILURE = 1  # a helper command found a problem (doctor: something needs fixing)
USAGE = 2  # bad command-line options
INTERNAL = 3  # a bug: the traceback is saved under the state dir
NO_GOOD_BACKUP = 4  # recovery: no backup verifies (each one's reason is printed)
RECOVERY_UNVERIFIED = 5  # recovery: restored, but a check of verify_recovery failed
SYNC_FAILED = 122  # the session ran, but its config changes could not be synced back to the host
TOOL_FAILED = 125  # the tool or Docker failed before Claude Code started (as `docker run` does)
# A CLAUDE_DOCKER_* value that its setting doesn't accept (envspec.py), for every command that reads it:
# one line naming the variable and what it takes. As for `claude` nothing started.
BAD_SETTING = TOOL_FAILED
INTERRUPTED = 130
# Rollouts (docs/ROLLOUT.md):
ROLLOUT_CONFLICT = 6  # another deploy is running, a different rollout is in progress, or nothing to roll back
ROLLOUT_STATE_DAMAGED = 7  # the rollout state file doesn't parse: kept as it is for the user to look at
# GitOps (docs/GITOPS.md); `gitops drift` has its own: 0 in sync, 1 drift, 2 could not tell.
GITOPS_SOURCE = 8  # the source can't be fetched or read (unreachable, not a repository, no such branch)
GITOPS_INVALID = 9  # the revision is refused: bad JSON or shape, a path escape, a link; nothing applied
GITOPS_SECRETS = 10  # a SOPS file can't be decrypted: no or wrong age key, tampered (MAC), unsupported
GITOPS_ROLLED_BACK = 11  # applied, then the check after it failed: the config was put back as it was
GITOPS_BUSY = 12  # another reconcile loop runs for this state dir
GITOPS_AUDIT_BROKEN = 13  # `gitops audit --verify`: an entry was edited, removed or reordered
# Alerting (docs/ALERTING.md):
ALERT_CONFIG = 14  # alerting.toml doesn't parse, or names an unknown rule, setting or channel
ALERT_UNDELIVERED = 15  # `alert send`/`alert test`: no target took it now; it stays in the outbox, retried
INCIDENT_UNKNOWN = 16  # `incident show|ack|resolve ID`: no such incident
ALERT_BUSY = 17  # `alert watch`: another watcher runs for this state dir
