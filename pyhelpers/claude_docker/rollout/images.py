"""An image reference pinned to its image id: a rollout runs ids, so a re-tag mid-rollout changes nothing.
Rollouts use images on this engine only: nothing is pulled (build with `image build --version`, or pull first)."""

from __future__ import annotations

import json

from claude_docker import engine, exitcodes
from claude_docker.errors import ToolError


def resolve(ref: str) -> dict:
    """{"image": ref, "id": "sha256:…"}; ToolError (FAILURE) with one line when the engine has no such image."""
    from claude_docker import envspec

    try:
        envspec.SETTINGS["CLAUDE_DOCKER_IMAGE"].parse(ref)
    except ValueError:
        raise ToolError(f"{ref!r} is not an image reference (name[:tag][@digest], lowercase name)",
                        exitcodes.USAGE) from None
    sock = engine.socket_path()
    if sock is None:
        raise ToolError("rollouts need the Docker engine's unix socket (DOCKER_HOST names another)",
                        exitcodes.FAILURE)
    try:
        status, body = engine.request(sock, "/images/" + engine.quote_ref(ref) + "/json")
        found = json.loads(body) if status == 200 else {}
    except (OSError, ValueError) as exc:
        raise engine.unreachable(sock, exc) from None
    if status == 404:
        raise ToolError(f"image {ref} is not on this engine (rollouts never pull): build it with `claude-docker "
                        "image build --version VERSION --tag NAME`, or pull it first", exitcodes.FAILURE)
    ident = found.get("Id") if isinstance(found, dict) else None
    if status != 200 or not isinstance(ident, str) or not ident.startswith("sha256:"):
        raise ToolError(f"the Docker daemon answered HTTP {status} when asked for image {ref}", exitcodes.FAILURE)
    return {"image": ref, "id": ident}


def short(image: dict | None) -> str:
    """`name (sha256:0123456789ab)` for people."""
    if not image:
        return "-"
    ident = image["id"].removeprefix("sha256:")[:12]
    return image["image"] if image["image"] == image["id"] else f"{image['image']} ({ident})"


def baseline(state: dict) -> tuple[dict, str]:
    """The image sessions with no image of their own run now, and where that comes from: "stable" (the last
    promotion's), "setting" (CLAUDE_DOCKER_IMAGE, set here) or "default" (the settings' default image)."""
    from claude_docker import envspec
    from claude_docker.options import RunOptions

    if state["stable"]:
        return state["stable"], "stable"
    source = "setting" if envspec.is_set("CLAUDE_DOCKER_IMAGE") else "default"
    return resolve(RunOptions.from_env().image), source
