"""Backups of Claude Code's state and recovery from them (issue #4, seed 000 §3.2).

store: the content-addressed chunk store and its snapshot manifests; scope: what a backup holds and which
files must parse; create: taking a backup; verify: is a backup good; retention: what prune keeps;
restore: putting a backup back; recovery: find_good_backup, verify_recovery and the disaster_recovery
runbook; triggers: the automatic backups and the corruption check at every `claude` start.
"""
