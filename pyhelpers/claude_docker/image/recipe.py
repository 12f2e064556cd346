"""The recipe's fingerprint: what an image was built from, so that `claude` can tell an installed recipe that
changed since (a package added to a profile, the finishing script edited) from one that did not.

It is on `claude`'s start for every image of ours, so it is crc32 (zlib, half a millisecond to import)
rather than sha256 (hashlib, five): it detects change, it guards nothing, since the labels it is compared
with are our own."""

from __future__ import annotations

import zlib
from pathlib import Path

from claude_docker import CLAUDE_CODE_VERSION
from claude_docker.image import metadata, profiles

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
DOCKERFILE = RECIPES / "Dockerfile"
FINISH = RECIPES / "finish.sh"  # run in the new root filesystem by both Debian recipes
DPKG_EXCLUDES = RECIPES / "dpkg-excludes"  # no docs, man pages or translations: as Debian's slim images
APT_OPTIONS = RECIPES / "apt-options"  # no recommended packages: the lists say what the image holds
KINDS = ("debian", "dockerfile", "minimal")


def shared_files() -> tuple[Path, ...]:
    """What both Debian recipes build with besides the packages: one list, so that the dockerfile recipe's
    context and the fingerprint cannot differ by a file."""
    return (FINISH, DPKG_EXCLUDES, APT_OPTIONS)


def _files(kind: str) -> tuple[Path, ...]:
    return {"debian": shared_files(), "dockerfile": (DOCKERFILE, *shared_files()), "minimal": ()}[kind]


def fingerprint(kind: str, chosen: tuple[str, ...]) -> str:
    """Of everything that decides what a `kind` image with the profiles `chosen` holds, in this installed copy."""
    crc = zlib.crc32(f"{kind}\0{','.join(chosen)}\0".encode())
    if kind != "minimal":
        crc = zlib.crc32(" ".join(profiles.packages(chosen)).encode(), crc)
        crc = zlib.crc32(repr(sorted(metadata.DEBIAN_ENV.items())).encode(), crc)
    for path in _files(kind):
        crc = zlib.crc32(path.read_bytes(), crc)
    return f"{crc:08x}"


def is_stale(labels: dict[str, str]) -> bool:
    """Was this image of ours built from a recipe other than the installed one? False for images not ours."""
    kind, built = labels.get(metadata.RECIPE), labels.get(metadata.FINGERPRINT)
    if kind is None or metadata.VERSION not in labels:
        return False
    if kind not in KINDS:  # a recipe this copy no longer builds: 0.1's busybox-only `npm`
        return True
    if not built:  # the user's own Dockerfile: only they know when it changed
        return False
    try:
        chosen = profiles.parse(filter(None, labels.get(metadata.PROFILES, "").split(",")))
        return fingerprint(kind, chosen) != built
    except (ValueError, OSError):  # a profile this copy no longer has, a recipe file unreadable: changed
        return True


def rebuild_command(image: str, labels: dict[str, str]) -> str:
    """The `image build` call that makes `image` again from the installed recipe, as its labels describe it."""
    chosen = tuple(filter(None, labels.get(metadata.PROFILES, "").split(",")))
    version = labels.get(metadata.VERSION, CLAUDE_CODE_VERSION)
    words = [profiles.build_command(chosen)]
    kind = labels.get(metadata.RECIPE, "debian")
    if kind in KINDS and kind != "debian":
        words.append(f"--recipe {kind}")
    if kind == "dockerfile" and labels.get(metadata.BASE):
        words.append(f"--base {labels[metadata.BASE]}")
    if version != CLAUDE_CODE_VERSION:
        words.append(f"--version {version}")
    if image != profiles.tag(version, chosen):
        words.append(f"--tag {image}")
    return " ".join(words)


def derived_base(image: str, labels: dict[str, str]) -> str | None:
    """The tag of ours that `image` (a reference by tag) was derived from, if it is not that image itself."""
    built_as = labels.get(metadata.BUILT_AS)
    if not built_as or image.startswith("sha256:") or "@" in image or image == built_as:
        return None
    if ":" not in image.rsplit("/", 1)[-1]:
        image += ":latest"
    return None if image == built_as else built_as


def stale_advice(image: str, labels: dict[str, str]) -> str:
    """What to run for a stale image: our rebuild of it, or of the base a derived one was made from."""
    from claude_docker.redact import printable  # labels are anyone's who made the image: no escapes shown

    base = derived_base(image, labels)
    if base is None:
        return printable(f"rebuild it with `{rebuild_command(image, labels)}`")
    return printable(f"it is built on {base}: rebuild that with `{rebuild_command(base, labels)}`, then {image}")
