"""`claude-docker image build|list`: make the session image; see ours and what uses each."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import click

from claude_docker import CLAUDE_CODE_VERSION, IMAGE_REPOSITORY


@click.group()
def cli() -> None:
    """Build the images sessions run in, and list them."""


def _profiles(ctx, param, values) -> tuple[str, ...]:
    from claude_docker.image import profiles

    try:
        return profiles.parse(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.option("--recipe", type=click.Choice(["debian", "dockerfile", "minimal"]), default="debian",
              show_default=True,
              help="debian: a Debian userland by mmdebstrap from the host's apt sources, no registry needed; "
                   "dockerfile: the shipped Dockerfile on Debian slim (needs a registry, or --base); "
                   "minimal: the binary, bash and busybox only.")
@click.option("--profile", "profiles", multiple=True, callback=_profiles, metavar="NAME[,NAME…]",
              help="Add a profile's tools: python, node, go, rust, build (repeatable).")
@click.option("--version", "version", default=CLAUDE_CODE_VERSION, show_default=True,
              help="The Claude Code version to pin.")
@click.option("--tag", default=None, help=f"Image tag [default: {IMAGE_REPOSITORY}:VERSION[-PROFILE…]].")
@click.option("--npm-tarball", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Use this `npm pack` tarball of @anthropic-ai/claude-code-linux-x64 instead of fetching it.")
@click.option("--apt-sources", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --recipe debian: build from these sources.list lines (a snapshot, say), not the host's.")
@click.option("--dockerfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --recipe dockerfile: build this Dockerfile instead of the shipped one.")
@click.option("--base", default=None, metavar="IMAGE",
              help="With --recipe dockerfile: the base image [default: debian:<host release>-slim].")
@click.option("--build-network", default=None, metavar="NETWORK",
              help="With --recipe dockerfile: the network its RUN steps use (host, say).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def build(recipe: str, profiles: tuple[str, ...], version: str, tag: str | None, npm_tarball: Path | None,
          apt_sources: Path | None, dockerfile: Path | None, base: str | None, build_network: str | None,
          as_json: bool) -> int:
    """Build a session image with the pinned Claude Code binary; prints its tag and id."""
    import time

    from claude_docker import dockerclient, ui
    from claude_docker.errors import ToolError
    from claude_docker.image import profiles as profile_names
    from claude_docker.image import prune
    from claude_docker.image.build import Request, check
    from claude_docker.image.build import build as run_build
    from claude_docker.obs import events
    from claude_docker.obs.catalog import observe

    def log(line: str) -> None:
        print(line, file=sys.stderr)

    tag = tag or profile_names.tag(version, profiles)
    try:
        sources = apt_sources.read_text() if apt_sources else None
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {apt_sources}: {exc}", param_hint="--apt-sources") from None
    req = Request(recipe=recipe, version=version, profiles=profiles, tag=tag, npm_tarball=npm_tarball,
                  dockerfile=dockerfile, base=base, network=build_network, apt_sources=sources)
    check(req)
    started = time.perf_counter()
    fields = {"recipe": recipe, "tag": tag, "claude_code_version": version, "profiles": ",".join(profiles)}
    try:
        client = dockerclient.connect(timeout=600, operation="image-build")
        image_id = run_build(client, req, log)
        removed = prune.superseded(client, log)
    except ToolError as exc:
        observe("claude_docker_image_builds_total", 1, recipe=recipe, outcome="error")
        events.emit("image.build", exc.message, level="error", outcome="error",
                    duration_ms=(time.perf_counter() - started) * 1000, fields=fields)
        raise
    seconds = time.perf_counter() - started
    observe("claude_docker_image_builds_total", 1, recipe=recipe, outcome="ok")
    events.emit("image.build", f"built {tag}", outcome="ok", duration_ms=seconds * 1000,
                fields={**fields, "image_id": image_id, "removed": len(removed)})
    _forwarder(log)  # after the session image's own record: its build succeeded whatever this does
    if as_json:
        ui.print_json({"tag": tag, "id": image_id, "recipe": recipe, "claude_code_version": version,
                       "profiles": list(profiles), "seconds": round(seconds, 1), "removed": removed})
    else:
        print(f"{tag} {image_id}")
    return 0


def _forwarder(log: Callable[[str], None]) -> None:
    """Allowlist sessions' forwarder image too, while building: their first start need not (socat permitting)."""
    from claude_docker.egress import forwarder
    from claude_docker.errors import ToolError

    if not forwarder.available():
        return
    try:
        forwarder.ensure(log)
    except ToolError as exc:  # the session image is built; a session in allowlist mode will say it again
        log(f"the egress forwarder image was not built: {exc.message}")


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the images as JSON.")
def list_(as_json: bool) -> int:
    """Our images: Claude Code version, profiles, size, and what uses each (slot, containers)."""
    from claude_docker import dockerclient, ui
    from claude_docker.image import catalog

    infos = catalog.listing(dockerclient.connect(operation="image-list"))
    if as_json:
        ui.print_json([info.to_json() for info in infos])
        return 0
    if not infos:
        print("no images built by claude-docker: make one with `claude-docker image build`", file=sys.stderr)
        return 0
    rows = []
    for info in infos:
        used = [*info.slots, *([f"{info.containers} container(s)"] if info.containers else [])]
        rows.append([", ".join(info.tags) or "<superseded>", info.id.removeprefix("sha256:")[:12],
                     info.claude_code_version, ",".join(info.profiles) or "-",
                     f"FROM {info.derived_from}" if info.derived_from else info.recipe,
                     f"{info.size / 1e6:.0f} MB", ", ".join(used) or "-",
                     "rebuild: recipe changed" if info.stale else ""])
    print(ui.table(rows, ["TAG", "ID", "CLAUDE CODE", "PROFILES", "RECIPE", "SIZE", "USED BY", ""]).rstrip())
    return 0
