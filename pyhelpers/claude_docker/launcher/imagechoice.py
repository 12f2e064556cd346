"""Which image this session runs: the slot's, or, when the user set no image of their own, the one the
project's `.claude-docker.toml` profiles name; then whether it is there, and built from the installed recipe."""

from __future__ import annotations

import sys
from pathlib import Path

from claude_docker import CLAUDE_CODE_VERSION, engine, exitcodes
from claude_docker.errors import ToolError
from claude_docker.image import profiles, projectfile, recipe

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.options import RunOptions
    from claude_docker.rollout.session import Assigned


def choose(opts: RunOptions, project: Path) -> tuple[str, str, tuple[str, ...], Assigned | None]:
    """(slot, image, the project's profiles, the rollout's assignment). The user's CLAUDE_DOCKER_IMAGE, and the
    v2 slot of the settings, win over the project's file, which wins over a rollout (a profile image is not
    rolled out: docs/ROLLOUT.md); with none of these, the rollout in progress (or the stable image its last
    promotion left) picks."""
    if opts.image_chosen:
        return (*opts.pick_slot(), (), None)
    chosen, warnings = projectfile.read(project)
    for warning in warnings:
        print(f"claude-docker: warning: {warning}", file=sys.stderr)
    if chosen:
        slot, image = opts.pick_slot()
        if slot == "v2":
            return slot, image, (), None
        return slot, profiles.tag(CLAUDE_CODE_VERSION, chosen), chosen, None
    from claude_docker.rollout.session import at_start

    assigned = at_start(opts.image, opts.v2_image, opts.v2_probability, str(project))
    return assigned.slot, assigned.image, (), assigned


def preflight(image: str, chosen: tuple[str, ...], network: str) -> str:
    """engine.preflight, offering to build a missing profile image when a person is at the terminal; then one
    line if the image was built from a recipe other than the installed one (never a build on this path)."""
    build = profiles.build_command(chosen)
    try:
        mapping, labels = engine.preflight(image, network, build)
    except engine.ImageMissing:
        if not chosen or not _agreed(image, chosen):
            raise
        _build(chosen)
        mapping, labels = engine.preflight(image, network, build)
    if recipe.is_stale(labels):
        print(f"claude-docker: {image} was built from an older recipe: {recipe.stale_advice(image, labels)}",
              file=sys.stderr)
    return mapping


def _agreed(image: str, chosen: tuple[str, ...]) -> bool:
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    print(f"claude-docker: this project needs {', '.join(chosen)} ({projectfile.NAME}), and {image} is not built "
          "yet. Build it now (a minute or two)? [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        return input().strip().lower() in ("y", "yes")
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        return False


def _build(chosen: tuple[str, ...]) -> None:
    import subprocess

    argv = [sys.executable, "-I", "-m", "claude_docker", "image", "build", "--profile", ",".join(chosen)]
    if subprocess.run(argv, stdout=subprocess.DEVNULL).returncode != 0:
        raise ToolError(f"the image build failed: run `{profiles.build_command(chosen)}` to see why",
                        exitcodes.TOOL_FAILED)
