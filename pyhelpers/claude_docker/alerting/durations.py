"""Durations as Prometheus writes them ("5m", "1h30m", "90s", "1d"), so one spelling serves the rules file,
the user's overrides and the PromQL we render."""

from __future__ import annotations

import re

UNITS = (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1), ("ms", 0.001))
_SECONDS = dict(UNITS)
_PART = re.compile(r"(\d+)(ms|[ywdhms])")
MAX_S = 10 * 365 * 86400.0  # ten years: more is a typo, and would overflow what uses it
MAX_TEXT = "10y"


def parse_duration(text: str) -> float:
    """Seconds in `text`; units largest first, each at most once, as Prometheus' model.ParseDuration.
    ValueError for anything else (an empty string, a bare number, "5 m", "-5m")."""
    parts = _PART.findall(text) if isinstance(text, str) else []
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 5m, 1h30m, 1d)")
    order = [u for u, _ in UNITS]
    ranks = [order.index(u) for _, u in parts]
    if ranks != sorted(set(ranks)):
        raise ValueError(f"not a duration: {text!r} (units largest first, each once)")
    if any(len(n) > 12 for n, _ in parts):  # (and so no float overflow from a number of 400 digits)
        raise ValueError(f"not a duration: {text[:40]!r}… (at most {MAX_TEXT})")
    seconds = float(sum(int(n) * _SECONDS[u] for n, u in parts))
    if seconds > MAX_S:
        raise ValueError(f"not a duration: {text!r} (at most {MAX_TEXT})")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest Prometheus spelling of `seconds` ("5m", "1h30m", "0s"); whole milliseconds at least."""
    ms = round(seconds * 1000)
    if ms < 0:
        raise ValueError(f"negative duration: {seconds}")
    if ms == 0:
        return "0s"
    out = []
    for unit, size in UNITS:
        step = round(size * 1000)
        if ms >= step:
            out.append(f"{ms // step}{unit}")
            ms %= step
    return "".join(out)
