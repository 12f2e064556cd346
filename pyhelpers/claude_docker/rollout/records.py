"""What each session under a deployment ended as, and the rollup the gates read.

Every session appends one line to `<state>/rollout/sessions-<deployment>.log` when it ends (one O_APPEND write:
concurrent sessions never interleave), written by the host-side wrapper, never by the container:

    <time bucket, 12 digits> <step, 3> <slot> <class, 12 wide> <startup bucket, 2> <unix time> <startup ms or ->

The first 35 bytes are the line's place in the rollup (the buckets come from the deployment's plan, fixed for
its life), so folding counts identical prefixes in C (collections.Counter) instead of parsing every line: 100,000
sessions fold in milliseconds. The rest is for people. The rollup caches the counts per (step, time bucket,
slot) with a startup-latency histogram, and the offset read up to (`rollup-<deployment>.json`); folding only the
lines after its offset keeps the gate's cost at a `claude` start flat however many sessions were recorded.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from claude_docker import exitcodes
from claude_docker.rollout.state import rollout_dir

CLASSES = ("ok", "error", "claude_error", "interrupted")
# Startup-latency histogram bounds (seconds); the plan's own p95 threshold is added, so the gate is exact there.
BOUNDS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0)
# Exit statuses that say a user or the system asked the session to stop (Ctrl-C, hang-up, TERM).
_ASKED = {129, 130, 143}
# Statuses of the machinery, not of Claude Code: the tool failed (125), the sync back failed (122), the
# container could not run `claude` (126 cannot execute, 127 not found).
_MACHINERY = {exitcodes.TOOL_FAILED, exitcodes.SYNC_FAILED, 126, 127}
MAX_READ = 64 << 20  # one fold reads at most this much of the log (the rest at the next)
KEY_BYTES = 35  # the fixed-width prefix of a line that says where it counts
NO_START = 99  # the startup bucket of a session whose container never started


def classify(status: int, signalled: bool) -> str:
    """An error is the machinery's or the image's failure, not the user's work (docs/ROLLOUT.md):
    - the tool's and the sync's statuses, and a container that cannot run `claude`;
    - death by a signal nobody sent the wrapper: 137 (an OOM kill), 139 (a crash), ...
    Claude Code's own non-zero exits are `claude_error`, counted apart and no error."""
    if status == 0:
        return "ok"
    if status in _MACHINERY:
        return "error"
    if status > 128:
        return "interrupted" if signalled or status in _ASKED else "error"
    return "claude_error"


def log_path(deployment: str) -> Path:
    return rollout_dir() / f"sessions-{deployment}.log"


def rollup_path(deployment: str) -> Path:
    return rollout_dir() / f"rollup-{deployment}.json"


def line(now: float, plan: dict, step: int, slot: str, cls: str, startup: float | None) -> bytes:
    from bisect import bisect_left

    lat = NO_START if startup is None else bisect_left(bounds(plan), startup)
    ms = "-" if startup is None else str(max(0, round(startup * 1000)))
    bucket = int(now // bucket_width(plan))
    return f"{bucket:012d} {step:03d} {slot} {cls:<12} {lat:02d} {now:.3f} {ms}\n".encode()


def append(deployment: str, plan: dict, step: int, slot: str, cls: str, startup: float | None) -> None:
    from claude_docker.fsio import append_durable
    from claude_docker.paths import ensure_private_dir

    ensure_private_dir(rollout_dir())
    append_durable(log_path(deployment), line(time.time(), plan, step, slot, cls, startup))


def bucket_width(plan: dict) -> float:
    """Time buckets a tenth of the shorter of interval and window: the window's edge is that exact."""
    return max(1.0, min(plan["interval"], plan["window"]) / 10)


def bounds(plan: dict) -> list[float]:
    return sorted(set(BOUNDS) | {float(plan["max_p95_start"])})


def empty(deployment: str, plan: dict) -> dict:
    return {"deployment": deployment, "offset": 0, "bad_lines": 0, "width": bucket_width(plan),
            "bounds": bounds(plan), "cells": {}}


def load(deployment: str, plan: dict) -> dict:
    """The persisted rollup, or an empty one (missing, or not one we wrote: it is only a cache)."""
    try:
        with open(rollup_path(deployment), "rb") as fh:
            rollup = json.loads(fh.read(MAX_READ))
        if (isinstance(rollup, dict) and rollup.get("deployment") == deployment
                and rollup.get("width") == bucket_width(plan) and rollup.get("bounds") == bounds(plan)
                and isinstance(rollup.get("offset"), int) and isinstance(rollup.get("bad_lines"), int)
                and isinstance(rollup.get("cells"), dict)
                and all(_cell_ok(k, v, len(rollup["bounds"]) + 1) for k, v in rollup["cells"].items())):
            return rollup
    except (OSError, ValueError, RecursionError):
        pass
    return empty(deployment, plan)


def _cell_ok(key, cell, size: int) -> bool:
    parts = key.split(":") if isinstance(key, str) else []
    return (len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() and parts[2] in ("v1", "v2")
            and isinstance(cell, list) and len(cell) == 6 and all(type(n) is int for n in cell[:5])
            and isinstance(cell[5], list) and len(cell[5]) == size and all(type(n) is int for n in cell[5]))


def save(rollup: dict) -> None:
    """Atomically, without the lock: every version written is consistent with its own offset."""
    from claude_docker.fsio import write_atomic

    write_atomic(rollup_path(rollup["deployment"]), json.dumps(rollup, separators=(",", ":")).encode(), 0o600)


def fold(rollup: dict, step: int) -> bool:
    """Fold the lines appended since the rollup's offset; the cells of steps before `step` are dropped. True if
    the log was read (or is not there yet); False if it could not be (a measurement error)."""
    try:
        with open(log_path(rollup["deployment"]), "rb") as fh:
            fh.seek(rollup["offset"])
            data = fh.read(MAX_READ)
    except FileNotFoundError:
        data = b""
    except OSError:
        return False
    cells = rollup["cells"]
    for name in [k for k in cells if int(k.split(":")[0]) < step]:
        del cells[name]
    end = data.rfind(b"\n") + 1  # a line being written right now is read next time
    if not end:
        return True
    rollup["offset"] += end
    from collections import Counter
    from operator import itemgetter

    counts = Counter(map(itemgetter(slice(0, KEY_BYTES)), data[:end].split(b"\n")[:-1]))
    size = len(rollup["bounds"]) + 2
    for key, count in counts.items():
        try:
            bucket, its_step, slot, cls, lat = key.decode("ascii").split()
            column, hist = 1 + CLASSES.index(cls), int(lat)
            if len(key) != KEY_BYTES or slot not in ("v1", "v2") or not (0 <= hist < size - 1 or hist == NO_START):
                raise ValueError
            name = f"{int(its_step)}:{int(bucket)}:{slot}"
        except (ValueError, UnicodeDecodeError):
            rollup["bad_lines"] += count
            continue
        cell = cells.get(name)
        if cell is None:
            cell = cells[name] = [0, 0, 0, 0, 0, [0] * (size - 1)]
        cell[0] += count
        cell[column] += count  # ok, error, claude_error, interrupted
        if hist != NO_START:
            cell[5][hist] += count
    return True


class Totals:
    """One slot's sessions in the window: how many, each class, and their startup histogram."""

    __slots__ = ("by_class", "hist", "sessions")

    def __init__(self, size: int):
        self.sessions = 0
        self.by_class = dict.fromkeys(CLASSES, 0)
        self.hist = [0] * size

    @property
    def errors(self) -> int:
        return self.by_class["error"]

    def error_rate(self) -> float:
        return self.errors / self.sessions if self.sessions else 0.0

    def samples(self) -> int:
        return sum(self.hist)

    def p95(self, edges: list[float]) -> float:
        """The histogram's bound below which 95 % of starts fall (inf past the last bound); 0 with none."""
        total, seen = self.samples(), 0
        for i, count in enumerate(self.hist):
            seen += count
            if total and seen >= 0.95 * total:
                return edges[i] if i < len(edges) else float("inf")
        return 0.0


def window(rollup: dict, step: int, since: float) -> dict[str, Totals]:
    """slot → its Totals over `step`'s buckets from the one holding `since` on (a window a bucket wider at most)."""
    width, size = rollup["width"], len(rollup["bounds"]) + 1
    out = {"v1": Totals(size), "v2": Totals(size)}
    first = int(since // width)
    for key, cell in rollup["cells"].items():
        cstep, bucket, slot = key.split(":")
        if int(cstep) != step or int(bucket) < first:
            continue
        totals = out[slot]
        totals.sessions += cell[0]
        for i, cls in enumerate(CLASSES):
            totals.by_class[cls] += cell[1 + i]
        totals.hist = [a + b for a, b in zip(totals.hist, cell[5])]
    return out


def remove(deployment: str) -> None:
    """A deployment's log and rollup, once it has ended (its summary stays in the history)."""
    for path in (log_path(deployment), rollup_path(deployment)):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
