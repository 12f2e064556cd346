"""The cheap check that Claude Code's config files parse, run at every `claude` start (so: the standard
library's json, ~2 ms to import where orjson costs ~25 ms) and by verification and recovery."""

from __future__ import annotations

import os

from claude_docker.backup import scope
from claude_docker.paths import ClaudeHome


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: Python takes them, Claude Code's JSON.parse not


def json_problem(key: str, data: bytes) -> str | None:
    """Why a config file's bytes are not a JSON object Claude Code can read; None if they are."""
    import json

    name = scope.file_name(key)
    if not data.strip():
        return f"{name} is empty"
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        return f"{name} is not valid JSON ({exc})"
    if not isinstance(value, dict):
        return f"{name} holds a JSON {type(value).__name__}, not an object"
    return None


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


def quick_check(claude: ClaudeHome) -> list[str]:
    """Config files present that don't parse. Missing ones are no corruption: a fresh install has none."""
    problems = []
    for key, path in config_files(claude):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"{path} is unreadable ({exc.strerror})")
            continue
        problem = json_problem(key, data)
        if problem:
            problems.append(problem)
    return problems
