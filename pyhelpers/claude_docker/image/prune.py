"""After a rebuild: our images that no tag names any more (the ones the rebuild and earlier ones superseded)
are removed, unless a slot setting of this environment (v1, the stable image a rollback returns to, or v2)
names one by id or digest, or a container, running or not, was made from it (a session still in it)."""

from __future__ import annotations

from typing import Callable

from claude_docker.errors import ToolError
from claude_docker.image import catalog


def superseded(client, log: Callable[[str], None]) -> list[str]:
    """Remove them; the ids removed."""
    from docker.errors import APIError, ImageNotFound

    try:
        keep = set(catalog.slot_images(client).values())
    except ToolError as exc:  # a refused CLAUDE_DOCKER_* value: which images the slots name is unknown
        log(f"kept superseded images: {exc.message}")
        return []
    used = catalog.users(client)
    removed = []
    for image in catalog.ours(client):  # dangling ones included
        if image.tags:
            continue
        short = image.id.removeprefix("sha256:")[:12]
        if image.id in keep:
            log(f"kept the superseded image {short}: a slot setting names it")
            continue
        if used.get(image.id):
            log(f"kept the superseded image {short}: a container uses it")
            continue
        try:
            client.images.remove(image.id)
        except ImageNotFound:
            continue
        except APIError as exc:
            log(f"kept the superseded image {short}: {exc.explanation or exc}")
            continue
        removed.append(image.id)
        log(f"removed the superseded image {short}")
    return removed

