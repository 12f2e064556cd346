"""Our images, and what uses each: the slots sessions pick from, the containers made from it.

Ours means built by this user (metadata.OWNER): on a shared engine, another user's images are not listed
and never removed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from claude_docker.image import metadata, recipe


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    claude_code_version: str
    profiles: tuple[str, ...]
    recipe: str
    created: str
    size: int  # bytes on disk, as the daemon counts it (shared layers counted in full)
    debian_release: str
    debian_packages: str
    slots: tuple[str, ...]  # v1, v2: the settings that name it now; stable, candidate, baseline, rollback…: a rollout's
    containers: int  # made from it, running or not (sessions, and any other)
    stale: bool  # built from a recipe other than the installed one
    derived_from: str  # the tag of ours it was built FROM (a user's Dockerfile); empty for our own builds

    def to_json(self) -> dict:
        return asdict(self)


def slot_images(client) -> dict[str, str]:
    """slot → the image id its setting names now (only those present), and the rollout's images by id: the
    stable one, the candidate and the image it is compared with (the v1 slot of a rollout), and those a
    rollback goes back to. ToolError when either can't be read (a refused setting, a damaged rollout state):
    then which images are in use is unknown."""
    from docker.errors import DockerException

    from claude_docker.options import RunOptions
    from claude_docker.rollout import state as rollout_state

    opts = RunOptions.from_env()
    found = {}
    for slot, ref in (("v1", opts.image), ("v2", opts.v2_image)):
        if ref:
            try:
                found[slot] = client.images.get(ref).id
            except DockerException:
                continue
    state = rollout_state.load()
    dep = state["deployment"]
    named = [("stable", state["stable"]), ("candidate", dep and dep["candidate"]),
             ("baseline", dep and dep["baseline"])]
    named += [("rollback" if i == 0 else f"rollback-{i + 1}", image) for i, image in enumerate(state["known_good"])]
    found.update((slot, image["id"]) for slot, image in named if image)
    return found


def ours(client) -> list:
    """The docker SDK images this user built."""
    me = metadata.owner()
    return [image for image in client.images.list(all=False, filters={"label": metadata.OWNER})
            if (image.labels or {}).get(metadata.OWNER) == me]


def users(client) -> dict[str, int]:
    """image id → how many containers (any state) were made from it."""
    counts: dict[str, int] = {}
    for c in client.api.containers(all=True):
        counts[c.get("ImageID", "")] = counts.get(c.get("ImageID", ""), 0) + 1
    return counts


def listing(client) -> list[ImageInfo]:
    slots, counts = slot_images(client), users(client)
    infos = []
    for image in ours(client):
        labels, attrs = image.labels or {}, image.attrs
        infos.append(ImageInfo(
            id=image.id, tags=tuple(sorted(image.tags)),
            claude_code_version=labels.get(metadata.VERSION, ""),
            profiles=tuple(filter(None, labels.get(metadata.PROFILES, "").split(","))),
            recipe=labels.get(metadata.RECIPE, ""), created=attrs.get("Created", ""),
            size=int(attrs.get("Size") or 0),
            debian_release=labels.get(metadata.DEBIAN_RELEASE, ""),
            debian_packages=labels.get(metadata.DEBIAN_PACKAGES, ""),
            slots=tuple(slot for slot, ident in sorted(slots.items()) if ident == image.id),
            containers=counts.get(image.id, 0), stale=recipe.is_stale(labels),
            derived_from=_derived_from(image.tags, labels)))
    return sorted(infos, key=lambda i: (i.tags[:1] or ("~",), i.created))


def _derived_from(tags: list[str], labels: dict[str, str]) -> str:
    built_as = labels.get(metadata.BUILT_AS, "")
    return built_as if built_as and tags and built_as not in tags else ""
