"""Building the session image, two ways, both around the pinned native binary from npm.

* `npm` (default; needs no container registry): `npm pack @anthropic-ai/claude-code-linux-x64@V`, then a
  root filesystem assembled from that binary, the shared libraries `ldd` names, bash (Claude Code's Bash
  tool needs bash or zsh), busybox for a basic userland when the host has it, and the host's CA bundle;
  imported with `docker import`. Works where npm is mirrored but registries are blocked.
* `dockerfile`: the shipped recipe (Debian slim + git, ripgrep, bash) with the same binary copied in,
  built by the daemon; needs the base image from a registry.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from claude_docker import CLAUDE_CODE_VERSION, IMAGE_REPOSITORY, exitcodes
from claude_docker.errors import ToolError

NPM_PACKAGE = "@anthropic-ai/claude-code-linux-x64"
RECIPE = Path(__file__).with_name("recipes") / "Dockerfile"
VERSION_LABEL = "io.claude-docker.claude-code-version"
RECIPE_LABEL = "io.claude-docker.recipe"
# Who built it (uid:HOME): a rebuild removes only its own previous image, uninstall only its own images.
OWNER_LABEL = "io.claude-docker.owner"
CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
PATH_ENV = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"
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
            raise ToolError(f"npm pack {spec} failed: {detail}", exitcodes.FAILURE)
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


def shared_libraries(binary: Path) -> list[str]:
    """Absolute paths of the libraries (and loader) `binary` needs, as the host's ldd resolves them."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolError(f"ldd {binary} failed: {proc.stderr.strip() or proc.stdout.strip()}", exitcodes.FAILURE)
    libs = []
    for line in proc.stdout.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.append(m.group(1))
    return libs


def _add_file(tar: tarfile.TarFile, src: str, dest: str, mode: int | None = None) -> None:
    info = tar.gettarinfo(os.path.realpath(src), arcname=dest.lstrip("/"))
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if mode is not None:
        info.mode = mode
    with open(os.path.realpath(src), "rb") as f:
        tar.addfile(info, f)


def _add_dir(tar: tarfile.TarFile, dest: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _add_link(tar: tarfile.TarFile, dest: str, target: str) -> None:
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    tar.addfile(info)


def _add_text(tar: tarfile.TarFile, dest: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


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
    dirs = {"/bin", "/usr", "/usr/local", "/usr/local/bin", "/etc", "/etc/ssl", "/etc/ssl/certs"}
    for lib in libs:
        parent = os.path.dirname(lib)
        while parent not in ("/", ""):
            dirs.add(parent)
            parent = os.path.dirname(parent)
    with tarfile.open(out, "w") as tar:
        for d in sorted(dirs):
            _add_dir(tar, d)
        _add_dir(tar, "/tmp", 0o1777)
        _add_dir(tar, "/home", 0o755)
        for dest, src in programs.items():
            _add_file(tar, src, dest, 0o755)
        for lib in sorted(libs):
            _add_file(tar, lib, lib)
        if busybox:
            _add_file(tar, busybox, "/bin/busybox", 0o755)
            applets = subprocess.run([busybox, "--list"], capture_output=True, text=True).stdout.split()
            for applet in applets:
                if applet not in ("bash", "busybox"):
                    _add_link(tar, f"/bin/{applet}", "busybox")
        else:
            log("busybox not found: the image gets bash but no coreutils")
            _add_link(tar, "/bin/sh", "bash")
        ca = next((p for p in CA_BUNDLES if os.path.isfile(p)), None)
        if ca:
            _add_file(tar, ca, "/etc/ssl/certs/ca-certificates.crt", 0o644)
        else:
            log("no CA bundle found: HTTPS from the image will fail")
        # Name lookups for uids with no entry still work; these only give tools a root and a nobody.
        _add_text(tar, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        _add_text(tar, "/etc/group", "root:x:0:\nnogroup:x:65534:\n")


def build_from_npm(client, version: str, tag: str, tarball: Path | None, log: Callable[[str], None]) -> str:
    with tempfile.TemporaryDirectory(prefix="claude-docker-image-") as tmp:
        work = Path(tmp)
        claude = fetch_binary(version, work, tarball, log)
        rootfs = work / "rootfs.tar"
        log("assembling the root filesystem")
        assemble_rootfs(claude, rootfs, log)
        log(f"importing it as {tag}")
        repo, _, name_tag = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
        changes = [f"ENV PATH={PATH_ENV}", "ENV DISABLE_AUTOUPDATER=1", 'CMD ["claude"]',
                   f"LABEL {VERSION_LABEL}={version}", f"LABEL {RECIPE_LABEL}=npm",
                   f"LABEL {OWNER_LABEL}={json.dumps(owner(), ensure_ascii=False)}"]  # quoted: HOME may hold spaces
        client.api.import_image_from_file(str(rootfs), repository=repo, tag=name_tag, changes=changes)
    return client.images.get(tag).id


def build_from_dockerfile(client, version: str, tag: str, dockerfile: Path, tarball: Path | None,
                          log: Callable[[str], None]) -> str:
    from docker.errors import BuildError

    with tempfile.TemporaryDirectory(prefix="claude-docker-image-") as tmp:
        context = Path(tmp)
        fetch_binary(version, context, tarball, log)
        for leftover in context.glob("*.tgz"):
            leftover.unlink()
        shutil.copyfile(dockerfile, context / "Dockerfile")
        log(f"building {tag} from {dockerfile}")
        try:
            image, stream = client.images.build(
                path=str(context), tag=tag, rm=True, forcerm=True,
                buildargs={"CLAUDE_CODE_VERSION": version},
                labels={VERSION_LABEL: version, RECIPE_LABEL: "dockerfile", OWNER_LABEL: owner()},
            )
        except BuildError as exc:
            raise ToolError(f"docker build failed: {exc.msg}", exitcodes.FAILURE) from None
        for chunk in stream:
            if "stream" in chunk and chunk["stream"].strip():
                log(chunk["stream"].rstrip())
        return image.id


def owner() -> str:
    from claude_docker import paths

    return f"{os.getuid()}:{paths.home()}"


def image_id(client, tag: str) -> str | None:
    """The id `tag` names now, if any."""
    from docker.errors import ImageNotFound

    try:
        return client.images.get(tag).id
    except ImageNotFound:
        return None


def remove_previous(client, previous: str | None, current: str, log: Callable[[str], None]) -> None:
    """After a rebuild moved the tag: remove the image it named before, if we built it and nothing uses it
    (the daemon refuses while any container, running or not, was made from it, or another tag names it)."""
    from docker.errors import APIError, ImageNotFound

    if previous is None or previous == current:
        return
    try:
        if client.images.get(previous).labels.get(OWNER_LABEL) != owner():
            return
        client.images.remove(previous)
    except ImageNotFound:
        return
    except APIError as exc:
        log(f"kept the previous image {previous[7:19]}: {exc.explanation or exc}")
        return
    log(f"removed the previous image {previous[7:19]}")


def default_tag(version: str = CLAUDE_CODE_VERSION) -> str:
    return f"{IMAGE_REPOSITORY}:{version}"
