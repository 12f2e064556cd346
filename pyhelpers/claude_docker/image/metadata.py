"""What every image of ours carries besides its files: the labels that say what it is, and its environment."""

from __future__ import annotations

import os

PREFIX = "io.claude-docker."
VERSION = PREFIX + "claude-code-version"
RECIPE = PREFIX + "recipe"  # debian, dockerfile or minimal
FINGERPRINT = PREFIX + "recipe-fingerprint"  # recipe.fingerprint at build time: `claude` compares it
PROFILES = PREFIX + "profiles"  # comma-separated, sorted; empty for the base
# Who built it (uid:HOME): a rebuild removes only its own superseded images, uninstall only its own images.
OWNER = PREFIX + "owner"
DEBIAN_RELEASE = PREFIX + "debian-release"  # the suite, and the Date of each apt source's Release file
DEBIAN_PACKAGES = PREFIX + "debian-packages"  # name=version of each package the recipe asked for
DPKG_DIGEST = PREFIX + "dpkg-digest"  # sha256 of every installed name=version, sorted
BASE = PREFIX + "base"  # the dockerfile recipe's FROM image
# The tag it was built as. Labels are inherited: an image whose tag differs was derived from ours (a user's
# Dockerfile FROM it), and rebuilding it by our recipe would throw their additions away.
BUILT_AS = PREFIX + "built-as"

PATH = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"
# Claude Code inside neither updates itself (the image pins it) nor checks the host's install method: a
# host ~/.claude.json saying "native" would otherwise warn that ~/.local/bin/claude is missing.
ENV = {
    "PATH": PATH,
    "LANG": "C.UTF-8",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_UPDATES": "1",
    "DISABLE_INSTALLATION_CHECKS": "1",
}
# With Debian's ripgrep installed, Claude Code uses it rather than the copy it carries.
DEBIAN_ENV = {**ENV, "USE_BUILTIN_RIPGREP": "0"}


def owner() -> str:
    from claude_docker import paths

    return f"{os.getuid()}:{paths.home()}"


def import_changes(env: dict[str, str], labels: dict[str, str]) -> list[str]:
    """`docker import --change` lines for this environment and these labels (values JSON-quoted: a HOME or a
    package list holds spaces)."""
    import json

    return ([f"ENV {k}={json.dumps(v)}" for k, v in env.items()] + ['CMD ["claude"]']
            + [f"LABEL {k}={json.dumps(v, ensure_ascii=False)}" for k, v in labels.items()])
