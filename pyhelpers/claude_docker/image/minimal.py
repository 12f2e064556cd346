"""The `minimal` recipe, for hosts without Debian's tools: the native binary, the shared libraries `ldd`
names, bash (Claude Code's Bash tool needs bash or zsh), busybox for a userland when the host has it, and the
host's CA bundle, in a root filesystem of its own, imported with `docker import`. No git, no ripgrep: the
`debian` recipe is the one to work in."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.image import importer, metadata, npm
from claude_docker.image.rootfs import add_dir, add_file, add_link, add_text, parent_dirs, shared_libraries

CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


def assemble_rootfs(claude: Path, out: Path, log: Callable[[str], None]) -> None:
    """A minimal root filesystem tar: claude, bash, busybox applets, their libraries, CA certificates."""
    programs = {"/usr/local/bin/claude": str(claude)}
    bash = shutil.which("bash")
    if not bash:
        raise ToolError("bash is not on this machine: the image needs it for Claude Code's Bash tool",
                        exitcodes.FAILURE)
    programs["/bin/bash"] = bash
    busybox = shutil.which("busybox")
    libs: set[str] = set()
    for src in programs.values():
        libs.update(shared_libraries(Path(src)))
    dirs = {"/bin", "/usr", "/usr/local", "/usr/local/bin", "/etc", "/etc/ssl", "/etc/ssl/certs"} | parent_dirs(libs)
    with tarfile.open(out, "w") as tar:
        for d in sorted(dirs):
            add_dir(tar, d)
        add_dir(tar, "/tmp", 0o1777)
        add_dir(tar, "/home", 0o755)
        for dest, src in programs.items():
            add_file(tar, src, dest, 0o755)
        for lib in sorted(libs):
            add_file(tar, lib, lib)
        if busybox:
            add_file(tar, busybox, "/bin/busybox", 0o755)
            applets = subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout.split()
            for applet in applets:
                if applet not in ("bash", "busybox"):
                    add_link(tar, f"/bin/{applet}", "busybox")
        else:
            log("busybox not found: the image gets bash but no coreutils")
            add_link(tar, "/bin/sh", "bash")
        ca = next((p for p in CA_BUNDLES if os.path.isfile(p)), None)
        if ca:
            add_file(tar, ca, "/etc/ssl/certs/ca-certificates.crt", 0o644)
        else:
            log("no CA bundle found: HTTPS from the image will fail")
        # Name lookups for uids with no entry still work; these only give tools a root and a nobody.
        add_text(tar, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        add_text(tar, "/etc/group", "root:x:0:\nnogroup:x:65534:\n")


def build(client, version: str, tag: str, tarball: Path | None, labels: dict[str, str],
          log: Callable[[str], None]) -> str:
    with tempfile.TemporaryDirectory(prefix="claude-docker-image-") as tmp:
        work = Path(tmp)
        claude = npm.fetch_binary(version, work, tarball, log)
        rootfs = work / "rootfs.tar"
        log("assembling the root filesystem")
        assemble_rootfs(claude, rootfs, log)
        return importer.import_rootfs(client, rootfs, tag, metadata.ENV, labels, log)

