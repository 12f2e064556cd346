"""The `dockerfile` recipe, for users with a registry: recipes/Dockerfile on Debian's slim image of the host's
release, built by the daemon with the same packages, dpkg excludes, finishing script and environment as the
`debian` recipe, and the same pinned binary."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

from claude_docker import exitcodes, redact
from claude_docker.errors import ToolError
from claude_docker.image import aptsources, metadata, npm, profiles, recipe


def build(client, version: str, tag: str, chosen: tuple[str, ...], tarball: Path | None, dockerfile: Path,
          base: str | None, network: str | None, labels: dict[str, str], log: Callable[[str], None]) -> str:
    from docker.errors import APIError, BuildError

    base = base or f"debian:{aptsources.host_suite()}-slim"
    with tempfile.TemporaryDirectory(prefix="claude-docker-image-") as tmp:
        context = Path(tmp)
        npm.fetch_binary(version, context, tarball, log)
        for leftover in context.glob("*.tgz"):
            leftover.unlink()
        for path in recipe.shared_files():
            shutil.copyfile(path, context / path.name)
        shutil.copyfile(dockerfile, context / "Dockerfile")
        log(f"building {tag} from {dockerfile} on {base}")
        try:
            image, stream = client.images.build(
                path=str(context), tag=tag, rm=True, forcerm=True, network_mode=network,
                buildargs={"BASE": base, "PACKAGES": " ".join(profiles.packages(chosen)),
                           "CLAUDE_CODE_VERSION": version},
                labels={**labels, metadata.BASE: base},
            )
        except BuildError as exc:
            raise ToolError(f"docker build failed: {_shown(exc.msg)}", exitcodes.FAILURE) from None
        except APIError as exc:
            raise ToolError(f"docker build failed: {_shown(exc.explanation or exc)}", exitcodes.FAILURE) from None
        for chunk in stream:
            if "stream" in chunk and chunk["stream"].strip():
                log(_shown(chunk["stream"].rstrip()))
        return image.id


def _shown(text) -> str:
    """The build's output as we show it: a mirror URL's credentials masked, no terminal escapes."""
    return redact.printable(redact.text(str(text)))
