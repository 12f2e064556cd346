"""The default `debian` recipe: a small Debian userland (profiles.BASE and the chosen profiles) made by
mmdebstrap from the host's own apt sources for its own release, with the pinned Claude Code binary, then
`docker import`. No container registry and no daemon-side build: only Debian's mirrors and npm's."""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
import tempfile
from collections import deque
from pathlib import Path
from typing import Callable

from claude_docker import exitcodes, redact
from claude_docker.errors import ToolError
from claude_docker.image import aptsources, importer, metadata, npm, profiles, recipe


def mmdebstrap_argv(suite: str, chosen: tuple[str, ...], claude: Path, work: Path, out: Path) -> list[str]:
    """The mmdebstrap call: sources on stdin; hooks record what was installed, then finish the image."""
    mmdebstrap = shutil.which("mmdebstrap")
    if not mmdebstrap:
        raise ToolError("mmdebstrap is not on PATH: install it (apt-get install mmdebstrap), or use "
                        "--recipe dockerfile or --recipe minimal", exitcodes.FAILURE)
    q = shlex.quote
    # Shell hooks write only inside the new root: in unshare mode (a user without root) they run as a mapped
    # root that can't write our temp dir. The special hooks (upload, download) run as us, outside.
    hooks = [
        # Before finish.sh drops the package lists: when each source's Release was made (the snapshot).
        'grep -H "^Date:" "$1"/var/lib/apt/lists/*Release > "$1"/tmp/claude-docker-release-dates || true',
        'chroot "$1" dpkg-query -W -f="\\${Package}=\\${Version}\\n" > "$1"/tmp/claude-docker-dpkg',
        f"download /tmp/claude-docker-release-dates {q(str(work / 'release-dates'))}",
        f"download /tmp/claude-docker-dpkg {q(str(work / 'dpkg'))}",
        f"upload {q(str(claude))} /usr/local/bin/claude",
        'chmod 0755 "$1"/usr/local/bin/claude',
        f"upload {q(str(recipe.FINISH))} /tmp/claude-docker-finish.sh",
        'chroot "$1" sh /tmp/claude-docker-finish.sh',
        'rm -f "$1"/tmp/claude-docker-finish.sh "$1"/tmp/claude-docker-dpkg "$1"/tmp/claude-docker-release-dates',
    ]
    return [mmdebstrap, "--variant=minbase", "--format=tar", f"--include={','.join(profiles.packages(chosen))}",
            f"--dpkgopt={recipe.DPKG_EXCLUDES}", f"--aptopt={recipe.APT_OPTIONS}",
            *(f"--customize-hook={hook}" for hook in hooks), suite, str(out), "-"]


def run_mmdebstrap(argv: list[str], sources: str, log: Callable[[str], None]) -> None:
    """Run it with the sources on stdin, its progress through `log`; ToolError with its last error line."""
    tail: deque[str] = deque(maxlen=20)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, errors="replace")
    except OSError as exc:
        raise ToolError(f"cannot run mmdebstrap: {exc.strerror or exc}", exitcodes.FAILURE) from None
    assert proc.stdin is not None and proc.stderr is not None
    try:
        proc.stdin.write(sources)
        proc.stdin.close()
    except BrokenPipeError:  # it stopped before reading them: its stderr says why
        pass
    for raw in proc.stderr:
        line = redact.printable(redact.text(raw.rstrip()))  # a mirror's URL may carry its credentials
        tail.append(line)
        if line.startswith(("I: ", "W: ")):
            log(f"mmdebstrap: {line[3:]}")
    if proc.wait() != 0:
        errors = [line for line in tail if line.startswith("E: ")] or list(tail) or ["no output"]
        raise ToolError(f"mmdebstrap failed: {errors[-1].removeprefix('E: ')}", exitcodes.FAILURE)


def release_label(suite: str, dates_file: Path) -> str:
    """`bookworm; bookworm: <Release date>; bookworm-updates: <date>…`: the release and how new each source is."""
    parts = [suite]
    try:
        lines = dates_file.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in sorted(set(lines)):
        m = re.search(r"_dists_(.+?)_(?:In)?Release:Date:\s*(.+)$", line)
        if m:
            parts.append(f"{m.group(1).replace('_', '/')}: {m.group(2).strip()}")
    return "; ".join(parts)


def installed(dpkg_file: Path) -> dict[str, str]:
    """Package → version, as dpkg-query listed them in the new root filesystem."""
    try:
        text = dpkg_file.read_text(errors="replace")
    except OSError as exc:
        raise ToolError(f"mmdebstrap left no package list ({exc.strerror or exc})", exitcodes.FAILURE) from None
    pairs = (line.partition("=") for line in text.splitlines())
    return {name: version for name, _, version in pairs if name and version}


def build(client, version: str, tag: str, chosen: tuple[str, ...], tarball: Path | None, sources: str | None,
          labels: dict[str, str], log: Callable[[str], None]) -> str:
    suite = aptsources.host_suite()
    sources = sources if sources is not None else aptsources.for_release(suite)
    with tempfile.TemporaryDirectory(prefix="claude-docker-image-") as tmp:
        work = Path(tmp)
        claude = npm.fetch_binary(version, work, tarball, log)
        rootfs = work / "rootfs.tar"
        log(f"building a Debian {suite} root filesystem with mmdebstrap")
        run_mmdebstrap(mmdebstrap_argv(suite, chosen, claude, work, rootfs), sources, log)
        packages = installed(work / "dpkg")
        missing = [name for name in profiles.packages(chosen) if name not in packages]
        if missing:
            raise ToolError(f"mmdebstrap did not install {', '.join(missing)}", exitcodes.FAILURE)
        listing = "\n".join(f"{name}={packages[name]}" for name in sorted(packages))
        labels = {**labels,
                  metadata.DEBIAN_RELEASE: release_label(suite, work / "release-dates"),
                  metadata.DEBIAN_PACKAGES: " ".join(f"{n}={packages[n]}" for n in profiles.packages(chosen)),
                  metadata.DPKG_DIGEST: hashlib.sha256(listing.encode()).hexdigest()}
        return importer.import_rootfs(client, rootfs, tag, metadata.DEBIAN_ENV, labels, log)
