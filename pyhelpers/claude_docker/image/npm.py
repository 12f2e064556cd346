"""The pinned native Claude Code binary, from its npm package: every recipe starts from it."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Callable

from claude_docker import exitcodes, redact
from claude_docker.errors import ToolError

NPM_PACKAGE = "@anthropic-ai/claude-code-linux-x64"
ELF_MAGIC = b"\x7fELF"


def fetch_binary(version: str, workdir: Path, tarball: Path | None, log: Callable[[str], None]) -> Path:
    """The native `claude` binary of `version`, from a given npm tarball or from `npm pack`."""
    if tarball is None:
        npm = shutil.which("npm")
        if not npm:
            raise ToolError("npm is not on PATH: install Node.js/npm, or pass --npm-tarball", exitcodes.FAILURE)
        spec = f"{NPM_PACKAGE}@{version}"
        log(f"fetching {spec} with npm pack")
        proc = subprocess.run([npm, "pack", "--silent", spec], cwd=workdir, capture_output=True, text=True)
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            # A registry URL in it may carry the user's npm credentials.
            raise ToolError(f"npm pack {spec} failed: {redact.printable(redact.text(detail))}", exitcodes.FAILURE)
        tarball = workdir / proc.stdout.strip().splitlines()[-1]
    target = workdir / "claude"
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            member = tar.getmember("package/claude")
            src = tar.extractfile(member)
            if src is None:
                raise KeyError("package/claude")
            with src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    except (OSError, tarfile.TarError, KeyError) as exc:
        raise ToolError(f"{tarball} is not a {NPM_PACKAGE} package ({exc})", exitcodes.FAILURE) from None
    with open(target, "rb") as f:
        if f.read(4) != ELF_MAGIC:
            raise ToolError(f"package/claude in {tarball} is not a native binary", exitcodes.FAILURE)
    target.chmod(0o755)
    return target
