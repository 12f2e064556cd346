"""Output for people: colour only on a terminal and never with NO_COLOR; JSON for machines.

Every line and table cell for people goes through `shown`: credentials in URLs redacted, and text that is
not ours (file and container names, paths, server messages) made printable, so a name holding terminal
escapes shows them instead of running them. Every error line goes through `error`.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from claude_docker import redact

MARKS = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red"), "info": ("·", None)}
_CODES = {"green": "32", "yellow": "33", "red": "31", "bold": "1"}


def color_enabled(stream: TextIO) -> bool:
    return "NO_COLOR" not in os.environ and stream.isatty()


def paint(text: str, color: str | None, stream: TextIO = sys.stdout) -> str:
    if color is None or not color_enabled(stream):
        return text
    return f"\033[{_CODES[color]}m{text}\033[0m"


def mark(status: str, stream: TextIO = sys.stdout) -> str:
    symbol, color = MARKS[status]
    return paint(symbol, color, stream)


def shown(value: Any) -> str:
    return redact.printable(redact.text(value))


def say(line: str, status: str | None = None, stream: TextIO | None = None) -> None:
    """One line for people, after the painted mark of `status` if given."""
    stream = stream or sys.stdout
    stream.write((mark(status, stream) + " " if status else "") + shown(line) + "\n")


def error(message: str) -> None:
    """The one form of an error line: `claude-docker: …` on stderr."""
    say("claude-docker: " + message, stream=sys.stderr)


# JSON escapes C0 controls itself; C1 controls (CSI 0x9b) and bidi overrides are valid JSON as they are,
# and would reach a terminal raw.
_JSON_UNSAFE = {code: f"\\u{code:04x}" for code in [*range(0x7F, 0xA0), *redact.BIDI_CONTROLS]}


def print_json(data: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode().translate(_JSON_UNSAFE) + "\n")


def json_line(data: Any) -> str:
    """One compact JSON line (JSON Lines output), as safe for a terminal as print_json's."""
    import orjson

    return orjson.dumps(data).decode().translate(_JSON_UNSAFE)


def table(rows: list[list[str]], headers: list[str]) -> str:
    rows = [[shown(c) for c in r] for r in rows]
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


class Progress:
    """A progress bar on stderr for long operations, only on a terminal (quiet otherwise, and for small
    jobs), redrawn at most ten times a second and cleared when done."""

    MIN_BYTES = 32 << 20

    def __init__(self, label: str, stream: TextIO = sys.stderr):
        self.label = label
        self.stream = stream
        self.total = 0
        self.done = 0
        self.shown = 0.0
        self.active = False

    def start(self, total: int):
        import time

        self.total, self.done = total, 0
        self.active = total >= self.MIN_BYTES and self.stream.isatty()
        self._clock = time.monotonic
        return self.advance

    def advance(self, n: int) -> None:
        self.done += n
        if not self.active:
            return
        now = self._clock()
        if now - self.shown < 0.1 and self.done < self.total:
            return
        self.shown = now
        share = min(self.done / self.total, 1.0)
        bar = "#" * int(share * 30)
        self.stream.write(f"\r{self.label} [{bar:<30}] {share:4.0%} {self.done >> 20}/{self.total >> 20} MiB")
        self.stream.flush()

    def finish(self) -> None:
        if self.active:
            self.stream.write("\r\033[K")
            self.stream.flush()
        self.active = False
