"""The part of Prometheus' alert templates our summaries use ({{ $value }}, {{ $labels.x }}, humanize,
humanizePercentage, humanizeDuration), so a notification from our evaluator reads as Prometheus' would."""

from __future__ import annotations

import math
import re

_FIELD = re.compile(r"\{\{\s*\$(value|labels\.(\w+))\s*(?:\|\s*(\w+)\s*)?\}\}")


def expand(text: str, labels: dict[str, str], value: float) -> str:
    """`text` with its template fields filled; a field we don't know is left as written."""

    def fill(m: re.Match) -> str:
        if m.group(2):
            return labels.get(m.group(2), "")
        fn = _FILTERS.get(m.group(3) or "")
        return fn(value) if fn else m.group(0)

    return _FIELD.sub(fill, text)


def go_float(v: float) -> str:
    """Go's %v of a float64: 2 → "2", 0.25 → "0.25", 1e21 → "1e+21"."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return repr(v)


def humanize(v: float) -> str:
    """SI prefixes, 4 significant digits (Prometheus' humanize)."""
    if v == 0 or math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    if abs(v) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return f"{v:.4g}{prefix}"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{v:.4g}{prefix}"


def humanize_duration(v: float) -> str:
    """Seconds as "1d 2h 3m 4s" or "29.25s" (Prometheus' humanizeDuration)."""
    if math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    if v == 0:
        return "0s"
    sign = "-" if v < 0 else ""
    v = abs(v)
    if v >= 1:
        whole = int(v)
        days, hours, minutes, seconds = whole // 86400, whole // 3600 % 24, whole // 60 % 60, whole % 60
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{v:.4g}s"
    unit, scale = ("ms", 1e3) if v >= 1e-3 else ("us", 1e6) if v >= 1e-6 else ("ns", 1e9)
    return f"{sign}{v * scale:.4g}{unit}"


_FILTERS = {"": go_float, "humanize": humanize, "humanizePercentage": lambda v: f"{v * 100:.4g}%",
            "humanizeDuration": humanize_duration}
