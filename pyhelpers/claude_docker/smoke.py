"""Does an image run Claude Code? `claude --version` in a throwaway container: no network, no mounts,
no capabilities. Recovery verifies with it; image rollouts will too."""

from __future__ import annotations

import os
import subprocess

SMOKE_TIMEOUT = 120.0


def smoke_image(image: str) -> tuple[bool, str]:
    """(passed, what it printed or why it failed)."""
    from claude_docker import engine
    from claude_docker.errors import ToolError

    try:
        docker = engine.docker_cli()
    except ToolError as exc:
        return False, exc.message
    # --pull never: the image here or not, never a registry's (whose error would hide that it is missing)
    argv = [docker, "run", "--rm", "--pull", "never", "--network", "none", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "--user", f"{os.getuid()}:{os.getgid()}", "--tmpfs", "/tmp:rw,mode=1777", "--env", "HOME=/tmp",
            "--env", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "--env", "DISABLE_AUTOUPDATER=1",
            "--log-driver", "none", "--entrypoint", "claude", image, "--version"]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=SMOKE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, f"`claude --version` in {image} did not answer within {SMOKE_TIMEOUT:g}s"
    except OSError as exc:
        return False, f"cannot run {docker}: {exc.strerror}"
    out = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        reason = engine.cli_failure(done.stderr.decode("utf-8", "replace"))
        return False, f"`claude --version` in {image} exited {done.returncode}" + (f": {reason}" if reason else "")
    return True, f"{image}: {out.splitlines()[0] if out else '(no output)'}"
