"""Root filesystems made from the host's own binaries: the libraries `ldd` names for a binary, and the tar
entries (owned by root) that the `minimal` recipe and the egress forwarder image are assembled from."""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError

# Where host programs are taken from: never PATH as it is, whose relative or project entries
# (./node_modules/.bin, a direnv PATH_add) a session can plant a program in.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def system_program(name: str) -> str | None:
    """`name` from the system's own directories, or None."""
    import shutil

    return shutil.which(name, path=SYSTEM_PATH)


def shared_libraries(binary: Path) -> list[str]:
    """Absolute paths of the libraries (and loader) `binary` needs, as the host's ldd resolves them."""
    ldd = system_program("ldd")
    if ldd is None:
        raise ToolError("ldd is not on this machine (Debian: libc-bin)", exitcodes.FAILURE)
    proc = subprocess.run([ldd, str(binary)], capture_output=True, text=True)
    if "not a dynamic executable" in proc.stdout + proc.stderr:  # statically linked: it needs none
        return []
    if proc.returncode != 0:
        raise ToolError(f"ldd {binary} failed: {proc.stderr.strip() or proc.stdout.strip()}", exitcodes.FAILURE)
    libs = []
    for line in proc.stdout.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            libs.append(m.group(1))
    return libs


def parent_dirs(paths: set[str] | list[str]) -> set[str]:
    """Every directory above these absolute paths (not `/`): a tar must hold them before their files."""
    dirs = set()
    for path in paths:
        parent = os.path.dirname(path)
        while parent not in ("/", ""):
            dirs.add(parent)
            parent = os.path.dirname(parent)
    return dirs


def add_file(tar: tarfile.TarFile, src: str, dest: str, mode: int | None = None) -> None:
    info = tar.gettarinfo(os.path.realpath(src), arcname=dest.lstrip("/"))
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if mode is not None:
        info.mode = mode
    with open(os.path.realpath(src), "rb") as f:
        tar.addfile(info, f)


def add_dir(tar: tarfile.TarFile, dest: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def add_link(tar: tarfile.TarFile, dest: str, target: str) -> None:
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
    tar.addfile(info)


def add_text(tar: tarfile.TarFile, dest: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))
