"""Where alerting keeps its state and reads its configuration, all below the tool's state dir."""

from __future__ import annotations

from pathlib import Path

from claude_docker.paths import ensure_private_dir, state_dir


def config_file() -> Path:
    """The user's file: rule overrides, targets, throttling, escalation (docs/ALERTING.md)."""
    return state_dir() / "alerting.toml"


def directory() -> Path:
    """<state>/alerting/, private, made on first use."""
    return ensure_private_dir(state_dir() / "alerting")


def rollup_file() -> Path:
    return directory() / "rollup.json"


def rule_state_file() -> Path:
    return directory() / "rules-state.json"


def outbox_file() -> Path:
    return directory() / "outbox.jsonl"


def notify_log_file() -> Path:
    return directory() / "notify-log.json"


def incidents_file() -> Path:
    return directory() / "incidents.json"

