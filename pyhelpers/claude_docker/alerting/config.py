"""The user's alerting settings: targets, throttling and the raw rule overrides, from alerting.toml and
CLAUDE_DOCKER_ALERT_TARGETS. A file that doesn't parse, an unknown key or a bad value is one line naming the
file and the key (exit status ALERT_CONFIG), never the value of a target (it may hold a token)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from claude_docker import envspec, exitcodes, fsio
from claude_docker.alerting import files
from claude_docker.alerting.durations import parse_duration
from claude_docker.alerting.targets import parse
from claude_docker.errors import ToolError

if TYPE_CHECKING:
    from claude_docker.alerting.model import Target

MAX_BYTES = 1 << 20
_THROTTLE_KEYS = ("repeat", "max_per_hour", "deadline")
_TARGET_KEYS = ("url", "severities", "escalation")


@dataclass
class Settings:
    targets: list[Target]
    repeat_s: float = 900.0
    max_per_hour: int = 10
    deadline_s: float = 86400.0
    rules: dict = field(default_factory=dict)


def defaults() -> Settings:
    """What holds when nothing is configured: one desktop target for every severity."""
    return Settings(targets=[parse("desktop://")])


def fallback() -> Settings:
    """What a pass goes on with when alerting.toml can't be read: the defaults, with the environment's targets
    that parse (a broken file must not also cut off the channels set elsewhere)."""
    found = []
    try:
        urls = envspec.get("CLAUDE_DOCKER_ALERT_TARGETS")
    except ToolError:
        urls = ()
    for url in urls:
        try:
            found.append(parse(url))
        except ToolError:
            continue
    return Settings(targets=found or defaults().targets)


def load() -> Settings:
    path = files.config_file()
    data = _read(path)

    def bad(key: str, what: str) -> ToolError:
        return ToolError(f"{path}: {key}: {what}", exitcodes.ALERT_CONFIG)

    unknown = sorted(set(data) - {"throttle", "target", "rules"})
    if unknown:
        raise bad(unknown[0], "unknown key (throttle, target, rules)")
    settings = Settings(targets=[])
    throttle = _table(data.get("throttle", {}), "throttle", bad)
    _known(throttle, "throttle", _THROTTLE_KEYS, bad)
    if "repeat" in throttle:
        settings.repeat_s = _duration(throttle["repeat"], "throttle.repeat", bad)
    if "deadline" in throttle:
        settings.deadline_s = _duration(throttle["deadline"], "throttle.deadline", bad)
    if "max_per_hour" in throttle:
        value = throttle["max_per_hour"]
        if type(value) is not int or value < 1:
            raise bad("throttle.max_per_hour", "a whole number >= 1")
        settings.max_per_hour = value
    settings.rules = _table(data.get("rules", {}), "rules", bad)
    entries = data.get("target", [])
    if not isinstance(entries, list):
        raise bad("target", "a list of [[target]] tables")
    for n, entry in enumerate(entries, 1):
        settings.targets.append(_target(_table(entry, f"target[{n}]", bad), f"target[{n}]", bad))
    for url in envspec.get("CLAUDE_DOCKER_ALERT_TARGETS"):
        try:
            settings.targets.append(parse(url))
        except ToolError as exc:
            raise ToolError(f"CLAUDE_DOCKER_ALERT_TARGETS: {exc.message}", exitcodes.ALERT_CONFIG) from None
    settings.targets = settings.targets or defaults().targets
    return settings


def _read(path) -> dict:
    try:
        raw = fsio.read_capped(path, MAX_BYTES)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ToolError(f"{path}: cannot be read ({exc.strerror or exc})", exitcodes.ALERT_CONFIG) from None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same parser, from PyPI
        import tomli as tomllib
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        # The decoder's message names a line and column, never the text there (a target's token).
        raise ToolError(f"{path}: not valid TOML ({exc})", exitcodes.ALERT_CONFIG) from None
    except (RecursionError, ValueError):
        raise ToolError(f"{path}: not a file this tool reads (too deeply nested, or a number too long)",
                        exitcodes.ALERT_CONFIG) from None


def _table(value, key: str, bad) -> dict:
    if not isinstance(value, dict):
        raise bad(key, "a table")
    return value


def _known(table: dict, key: str, names: tuple[str, ...], bad) -> None:
    extra = sorted(set(table) - set(names))
    if extra:
        raise bad(f"{key}.{extra[0]}", f"unknown key ({', '.join(names)})")


def _duration(value, key: str, bad) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise bad(key, "a duration such as 90s, 15m, 1h30m, 1d") from None
    if seconds <= 0:
        raise bad(key, "a duration above 0s")
    return seconds


def _target(entry: dict, key: str, bad) -> Target:
    _known(entry, key, _TARGET_KEYS, bad)
    url = entry.get("url")
    if not isinstance(url, str) or not url:
        raise bad(f"{key}.url", "a target URL (desktop://, slack://, mailto://, alertmanager://, json://)")
    severities = entry.get("severities")
    if severities is not None and not (isinstance(severities, str) or (
            isinstance(severities, list) and all(isinstance(s, str) for s in severities))):
        raise bad(f"{key}.severities", 'a list of severities, or "high,critical"')
    escalation = entry.get("escalation", 0)
    if type(escalation) is not int or escalation < 0:
        raise bad(f"{key}.escalation", "a whole number >= 0")
    try:
        return parse(url, severities, escalation)
    except ToolError as exc:
        raise bad(f"{key}.url", exc.message) from None
