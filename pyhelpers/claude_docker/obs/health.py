"""Liveness and readiness, as `claude-docker health` and the /health/* endpoints of `metrics serve`.

live: the tool itself can work (its settings are accepted, its state and event log can be written).
ready: a `claude` session could start and finish now: Docker answers, the image is there (in allowlist mode,
the egress forwarder's too, or socat to build it), the host's Claude config is valid, and no session is stuck
waiting for its config to be synced back.
"""

from __future__ import annotations

import dataclasses
import os

from claude_docker.checks import Check, check_forwarder, check_host_config, check_settings, network_mode
from claude_docker.errors import ToolError
from claude_docker.obs import settings
from claude_docker.paths import ClaudeHome, state_dir


def _writable(path) -> bool:
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    return existing is not None and os.access(existing, os.W_OK)


def live() -> list[Check]:
    checks = check_settings()
    for name, where in (("state dir", state_dir), ("event log", settings.events_file)):
        try:
            path = where()
        except ToolError:
            continue  # its setting is refused: a failed check above
        ok = _writable(path)
        checks.append(Check(name, "ok" if ok else "fail", f"{path} {'is' if ok else 'is not'} writable",
                            "" if ok else f"make {path} writable by you"))
    from claude_docker import damage

    checks.append(damage.check())
    return checks


def ready() -> list[Check]:
    from claude_docker import engine
    from claude_docker.liveness import host_name
    from claude_docker.options import RunOptions
    from claude_docker.sessiondir import all_sessions, interrupted

    checks = []
    opts, answers = None, False
    try:
        opts = RunOptions.from_env()
        engine.preflight(opts.image, opts.network)
        checks.append(Check("docker", "ok", f"daemon answers and {opts.image} is present"))
        answers = True
    except ToolError as exc:
        checks.append(Check("docker", "fail", exc.message, "claude-docker doctor"))
        answers = isinstance(exc, engine.ImageMissing)
    if opts is not None:
        checks.append(Check("network", "info", network_mode(opts.network)))
        if answers and opts.network == "allowlist":  # (an engine that does not answer: said once above)
            checks.append(check_forwarder())
    for check in check_host_config(ClaudeHome.from_env()):
        # "does not exist yet" is fine for readiness: Claude Code creates it on first run
        checks.append(check if check.status != "info" else dataclasses.replace(check, status="ok"))
    try:
        stuck = [s for s, m in interrupted(all_sessions(), host_name()) if m.get("state") == "sync-failed"]
    except ToolError:  # a refused CLAUDE_DOCKER_STATE_DIR: live()'s failed check
        return checks
    checks.append(Check("sync", "fail" if stuck else "ok",
                        f"{len(stuck)} session(s) failed to sync back" if stuck else "no failed syncs",
                        "claude-docker cleanup" if stuck else ""))
    return checks


def is_ok(checks: list[Check]) -> bool:
    return all(c.status != "fail" for c in checks)
