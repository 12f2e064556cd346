"""A project's `.claude-docker.toml`: the profiles its sessions need, and nothing else.

The project is untrusted (a cloned repository, or what the last session wrote), so the file can only pick
among our profiles: never an image, a mount, a network or a relaxed setting (those are the user's own
CLAUDE_DOCKER_* settings). Anything else in it is named in one warning and ignored.

    [image]
    profiles = ["python", "node"]
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.errors import ToolError
from claude_docker.image import profiles

NAME = ".claude-docker.toml"
MAX_BYTES = 64 << 10


def read(project: Path) -> tuple[tuple[str, ...], list[str]]:
    """(profiles, warnings) from the project's file; ((), []) without one. ToolError (BAD_SETTING) naming the
    file for one that can't be read or parsed, or names a profile we don't have."""
    from claude_docker import fsio

    path = project / NAME
    try:
        raw = fsio.read_capped(path, MAX_BYTES)  # not through a link, not a FIFO, not a bomb
    except FileNotFoundError:
        return (), []
    except OSError as exc:
        why = "a link" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise ToolError(f"{path}: cannot be read ({why})", exitcodes.BAD_SETTING) from None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, from PyPI
        import tomli as tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ToolError(f"{path}: not valid TOML ({exc})", exitcodes.BAD_SETTING) from None
    except (RecursionError, ValueError):  # arrays nested thousands deep, an integer of thousands of digits
        raise ToolError(f"{path}: not a file this tool reads (too deeply nested, or a number too long)",
                        exitcodes.BAD_SETTING) from None
    image = data.get("image", {})
    ignored = [key for key in data if key != "image"]
    if not isinstance(image, dict):
        image, ignored = {}, [*ignored, "image"]
    ignored += [f"image.{key}" for key in image if key != "profiles"]
    names = image.get("profiles", [])
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ToolError(f"{path}: image.profiles must be a list of profile names", exitcodes.BAD_SETTING)
    try:
        chosen = profiles.parse(names)
    except ValueError as exc:
        raise ToolError(f"{path}: {exc}", exitcodes.BAD_SETTING) from None
    from claude_docker.redact import printable

    warnings = [f"{path}: ignored {printable(', '.join(ignored))} (a project file can only name image.profiles)"
                ] if ignored else []
    return chosen, warnings
