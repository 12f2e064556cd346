"""The part of Prometheus' annotation templates our rules use, so a notification from our own evaluator reads as
Alertmanager's would: `{{ $value }}`, `{{ $value | humanize }}`, `| humanizePercentage`, `| humanizeDuration`,
`{{ $labels.NAME }}`. Anything else is left as written (a user's override can't make us run a template)."""

from __future__ import annotations

import math
import re

_FIELD = re.compile(r"\{\{\s*\$(value|labels\.([A-Za-z_][A-Za-z0-9_]*))\s*(?:\|\s*([A-Za-z]+)\s*)?\}\}")


def _number(value: float) -> str:
    return f"{value:.4g}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return " ".join(parts)


_FUNCTIONS = {
    None: _number,
    "humanize": _number,
    "humanizePercentage": lambda v: f"{v * 100:.3g}%",
    "humanizeDuration": _duration,
}


def render(text: str, value: float | None, labels: dict[str, str]) -> str:
    def field(found: re.Match) -> str:
        if found.group(2):
            return labels.get(found.group(2), "") if found.group(3) is None else found.group(0)
        function = _FUNCTIONS.get(found.group(3))
        if function is None or value is None or math.isnan(value):
            return found.group(0) if function is None else "?"
        return function(value)

    return _FIELD.sub(field, text)
