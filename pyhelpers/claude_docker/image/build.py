"""`claude-docker image build`: one recipe run, the labels every image of ours carries, then the images the
build superseded removed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.image import metadata, recipe


@dataclass(frozen=True)
class Request:
    recipe: str  # one of recipe.KINDS
    version: str
    profiles: tuple[str, ...]
    tag: str
    npm_tarball: Path | None = None
    dockerfile: Path | None = None  # dockerfile recipe: another Dockerfile than the shipped one
    base: str | None = None  # dockerfile recipe: the FROM image (default: Debian slim of the host's release)
    network: str | None = None  # dockerfile recipe: the build's network (RUN apt-get needs one)
    apt_sources: str | None = None  # debian recipe: sources.list lines instead of the host's


def labels(req: Request) -> dict[str, str]:
    found = {metadata.VERSION: req.version, metadata.RECIPE: req.recipe, metadata.PROFILES: ",".join(req.profiles),
             metadata.OWNER: metadata.owner(), metadata.BUILT_AS: req.tag}
    if req.dockerfile is None:  # another Dockerfile is the user's recipe: only they know when it changed
        found[metadata.FINGERPRINT] = recipe.fingerprint(req.recipe, req.profiles)
    return found


def check(req: Request) -> None:
    """ToolError (USAGE) for options the recipe would ignore: before anything connects or fetches."""
    if req.recipe == "minimal" and req.profiles:
        raise ToolError("profiles need a Debian recipe (--recipe debian or dockerfile), not minimal",
                        exitcodes.USAGE)
    recipe_only = (("--apt-sources", "debian", req.apt_sources), ("--dockerfile", "dockerfile", req.dockerfile),
                   ("--base", "dockerfile", req.base), ("--build-network", "dockerfile", req.network))
    for option, kind, value in recipe_only:
        if value is not None and req.recipe != kind:
            raise ToolError(f"{option} is for --recipe {kind}, not {req.recipe}", exitcodes.USAGE)


def build(client, req: Request, log: Callable[[str], None]) -> str:
    """Build the image `req` asks for (`check`ed by the caller, before it connected); its id."""
    if req.recipe == "minimal":
        from claude_docker.image import minimal

        return minimal.build(client, req.version, req.tag, req.npm_tarball, labels(req), log)
    if req.recipe == "dockerfile":
        from claude_docker.image import dockerfile

        return dockerfile.build(client, req.version, req.tag, req.profiles, req.npm_tarball,
                                req.dockerfile or recipe.DOCKERFILE, req.base, req.network, labels(req), log)
    from claude_docker.image import debian

    return debian.build(client, req.version, req.tag, req.profiles, req.npm_tarball, req.apt_sources,
                        labels(req), log)
