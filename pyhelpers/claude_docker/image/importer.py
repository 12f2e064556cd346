"""`docker import` of a root filesystem we made: the image the `debian` and `minimal` recipes end with."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from claude_docker.image import metadata


def import_rootfs(client, rootfs: Path, tag: str, env: dict[str, str], labels: dict[str, str],
                  log: Callable[[str], None]) -> str:
    """`docker import` of a root filesystem tar as `tag`, with our environment and labels; its image id."""
    log(f"importing it as {tag}")
    repo, _, name_tag = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
    client.api.import_image_from_file(str(rootfs), repository=repo, tag=name_tag,
                                      changes=metadata.import_changes(env, labels))
    return client.images.get(tag).id
