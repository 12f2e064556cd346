"""`claude-docker image build`: make the session image."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from claude_docker import CLAUDE_CODE_VERSION, IMAGE_REPOSITORY


@click.group()
def cli() -> None:
    """Build the image sessions run in."""


@cli.command()
@click.option("--recipe", type=click.Choice(["npm", "dockerfile"]), default="npm", show_default=True,
              help="npm: assemble from the npm package, no container registry needed; "
                   "dockerfile: build the shipped Debian-based recipe (needs its base image).")
@click.option("--version", "version", default=CLAUDE_CODE_VERSION, show_default=True,
              help="The Claude Code version to pin.")
@click.option("--tag", default=None, help=f"Image tag [default: {IMAGE_REPOSITORY}:VERSION].")
@click.option("--npm-tarball", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Use this `npm pack` tarball of @anthropic-ai/claude-code-linux-x64 instead of fetching it.")
@click.option("--dockerfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --recipe dockerfile: build this Dockerfile instead of the shipped one.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def build(recipe: str, version: str, tag: str | None, npm_tarball: Path | None, dockerfile: Path | None,
          as_json: bool) -> int:
    """Build the session image with the pinned Claude Code binary; prints the image id."""
    from claude_docker import dockerclient, imagebuild, ui

    tag = tag or imagebuild.default_tag(version)

    def log(line: str) -> None:
        print(line, file=sys.stderr)

    import time

    from claude_docker.errors import ToolError
    from claude_docker.obs import events
    from claude_docker.obs.catalog import observe

    started = time.perf_counter()
    fields = {"recipe": recipe, "tag": tag, "claude_code_version": version}
    try:
        client = dockerclient.connect(timeout=600, operation="image-build")
        previous = imagebuild.image_id(client, tag)
        if recipe == "npm":
            image_id = imagebuild.build_from_npm(client, version, tag, npm_tarball, log)
        else:
            image_id = imagebuild.build_from_dockerfile(client, version, tag, dockerfile or imagebuild.RECIPE,
                                                        npm_tarball, log)
        imagebuild.remove_previous(client, previous, image_id, log)
    except ToolError as exc:
        observe("claude_docker_image_builds_total", 1, recipe=recipe, outcome="error")
        events.emit("image.build", exc.message, level="error", outcome="error",
                    duration_ms=(time.perf_counter() - started) * 1000, fields=fields)
        raise
    observe("claude_docker_image_builds_total", 1, recipe=recipe, outcome="ok")
    events.emit("image.build", f"built {tag}", outcome="ok", duration_ms=(time.perf_counter() - started) * 1000,
                fields={**fields, "image_id": image_id})
    if as_json:
        ui.print_json({"tag": tag, "id": image_id, "recipe": recipe, "claude_code_version": version})
    else:
        print(f"{tag} {image_id}")
    return 0
