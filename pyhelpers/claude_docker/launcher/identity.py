"""Who the session's user is inside: /etc/passwd and /etc/group entries for the uid:gid it runs as.

An image has no entry for the host user's uid, and ssh (so git over ssh) refuses to run without one ("No user
exists for uid 1000"); `whoami` and `id -un` fail too. The two files are written into the session dir, not
the staged HOME (the container must not change them), and mounted read-only over the image's."""

from __future__ import annotations

import os
import re
from pathlib import Path

from claude_docker.container import Mount

TYPE_CHECKING = False  # not typing's: its import costs milliseconds of claude's start (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Mapping


def _name(uid: int, environ: Mapping[str, str]) -> str:
    if uid == 0:
        return "root"
    user = environ.get("USER", "")
    return user if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}", user) and user != "root" else "user"


def mounts(session_path: Path, uid: int, gid: int, home: Path, environ: Mapping[str, str] | None = None
           ) -> list[Mount]:
    environ = os.environ if environ is None else environ
    name = _name(uid, environ)
    # A field separator or a newline in HOME would corrupt the file: such a user gets / there.
    home_field = str(home) if not re.search(r"[:\n\r]", str(home)) else "/"
    # ssh finds ~/.ssh by this field, not $HOME: whoever the session's user is, it names the session's HOME.
    passwd = [f"root:x:0:0:root:{home_field if uid == 0 else '/root'}:/bin/sh"]
    group = ["root:x:0:"]
    if uid != 0:
        passwd.append(f"{name}:x:{uid}:{gid}::{home_field}:/bin/sh")
    if gid != 0:
        group.append(f"{name if uid != 0 else 'users'}:x:{gid}:")
    if uid != 65534:
        passwd.append("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin")
    if gid != 65534:
        group.append("nogroup:x:65534:")
    folder = session_path / "identity"
    folder.mkdir(mode=0o700, exist_ok=True)
    found = []
    for file, lines in (("passwd", passwd), ("group", group)):
        path = folder / file
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o644)
        found.append(Mount(path, Path("/etc") / file, read_only=True))
    return found
