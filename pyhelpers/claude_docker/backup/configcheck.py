"""The cheap check that Claude Code's config files parse, run at every `claude` start (so: the standard
library's json, ~2 ms to import where orjson costs ~25 ms) and by verification and recovery."""

from __future__ import annotations

import os

from claude_docker.backup import scope

TYPE_CHECKING = False  # not typing's: its import costs ~5 ms (mypy knows the name)
if TYPE_CHECKING:
    from claude_docker.paths import ClaudeHome

# A config file that must parse is read whole into memory: never more than this. Claude Code's largest,
# `.claude.json`, holds a few MB for hundreds of projects; a larger one is no config Claude Code could load.
MAX_CONFIG_FILE = 64 << 20


def json_defect(data: bytes) -> str | None:
    """What keeps a config file's bytes from being a JSON object Claude Code can read ("is empty", …)."""
    from claude_docker.claudejson import lenient_loads

    if not data.strip():
        return "is empty"
    try:
        value = lenient_loads(data)  # as Claude Code reads it: the check and the sync agree on what is readable
    except (ValueError, RecursionError) as exc:
        return f"is not valid JSON ({exc})"
    if not isinstance(value, dict):
        return f"holds a JSON {type(value).__name__}, not an object"
    return None


def json_problem(key: str, data: bytes) -> str | None:
    """Why a config file's bytes are not a JSON object Claude Code can read, naming it; None if they are."""
    defect = json_defect(data)
    return f"{scope.file_name(key)} {defect}" if defect else None


def config_files(claude: ClaudeHome) -> list[tuple[str, str]]:
    """(key, host path) of the config files Claude Code reads at start that exist now."""
    found = [(scope.CLAUDE_JSON, str(claude.claude_json))]
    try:
        with os.scandir(claude.config_dir) as it:
            found += [(f"{scope.CONFIG}/{e.name}", e.path) for e in it
                      if scope.must_parse(f"{scope.CONFIG}/{e.name}") and e.is_file()
                      and not (claude.custom and e.name == ".claude.json")]
    except OSError:
        pass
    return sorted(found)


def holds_user_state(key: str) -> bool:
    """Does Claude Code keep the user's own state in this config file (login, projects, settings), which the
    sync applies key by key? Broken, a session would replace it with a fresh one. Others (stats-cache.json)
    are caches Claude Code rebuilds."""
    from claude_docker.boundary.policy import KEYED_FILES

    return scope.file_name(key) in KEYED_FILES


def read_config(path) -> bytes:
    """A config file's bytes (the user's own link followed), at most MAX_CONFIG_FILE of them; never blocks on a
    FIFO. OSError (fsio.TooLarge if it is larger) if it can't be read."""
    from claude_docker.fsio import read_capped

    return read_capped(path, MAX_CONFIG_FILE, follow=True)


def defects(claude: ClaudeHome) -> list[tuple[str, str, str]]:
    """(key, host path, what is wrong) for each config file present that doesn't parse. Missing ones are no
    corruption: a fresh install has none."""
    from claude_docker.fsio import TooLarge

    found = []
    for key, path in config_files(claude):
        try:
            data = read_config(path)
        except FileNotFoundError:
            continue
        except TooLarge:
            found.append((key, path, f"is larger than {MAX_CONFIG_FILE >> 20} MiB (no config file is)"))
            continue
        except OSError as exc:
            found.append((key, path, f"is unreadable ({exc.strerror})"))
            continue
        defect = json_defect(data)
        if defect:
            found.append((key, path, defect))
    return found


def quick_check(claude: ClaudeHome) -> list[str]:
    """Config files present that don't parse, each by the name people know it by."""
    return [f"{scope.file_name(key)} {defect}" for key, _, defect in defects(claude)]
