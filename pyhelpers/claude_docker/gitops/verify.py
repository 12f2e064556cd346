"""The check after an apply that needs Docker: the session image's `claude -p`, answered by the local stand-in,
run with the new config (the smoke ladder up to its state rung, seeded with the files just written).

The host's own commands are left out of that config (they name the host's programs, absent from the image),
and so is `~/.claude.json` (per-machine state and tokens). Only the new config is blamed: a ladder that fails
the same way without it (no image here, an engine the stand-in can't reach) is a skipped check, not a
rollback."""

from __future__ import annotations

from claude_docker.gitops.hostfiles import CLAUDE_JSON, SETTINGS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from claude_docker.paths import ClaudeHome


def smoke(claude: ClaudeHome, files: dict[str, bytes | None]) -> tuple[str, str]:
    """("passed" | "failed" | "skipped", a line saying why)."""
    from claude_docker.errors import ToolError
    from claude_docker.rollout import images, ladder
    from claude_docker.rollout import state as states

    seed = _seed(files)
    if not seed:
        return "skipped", "nothing Claude Code reads at start changed"
    try:
        image = images.baseline(states.load())[0]
    except ToolError as exc:
        return "skipped", f"no session image to run: {exc.message}"
    _id, rungs = ladder.run(image["id"], until="state", seed=seed)
    failed = next((r for r in rungs if r.passed is False), None)
    if failed is None:
        return "passed", f"`claude -p` ran with the new config on {images.short(image)}"
    if failed.name != "state":
        return "skipped", f"the image failed its own smoke test ({failed.name}: {failed.detail})"
    _id, bare = ladder.run(image["id"], until="state")
    if any(r.passed is False for r in bare):
        return "skipped", f"the smoke run fails without the new config too ({failed.detail})"
    return "failed", failed.detail


def _seed(files: dict[str, bytes | None]) -> dict[str, bytes]:
    """The written files a container may see: settings without the host's commands, no `.claude.json`."""
    import json

    from claude_docker.boundary import policy

    seed: dict[str, bytes] = {}
    for rel, data in files.items():
        if data is None or rel == CLAUDE_JSON:
            continue
        if rel == SETTINGS:
            doc = json.loads(data)
            seed[rel] = json.dumps({k: v for k, v in doc.items()
                                    if policy.SETTINGS_REASONS.get(k) != policy.EXEC}).encode()
        else:
            seed[rel] = data
    return seed
