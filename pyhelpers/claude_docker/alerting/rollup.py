"""What the alert rules read: the metrics log folded into per-minute buckets, caught up by a cursor.

The rules ask for a counter's increase over a window and a gauge's latest value. Scanning the log for that
would cost seconds at a million records, so each series keeps one bucket per minute (counter increments;
histogram observations as the cumulative "<name>_bucket"{le=...}, "<name>_count" and "<name>_sum" counters
Prometheus exposes), gauges their last (value, time), and only what was appended since the saved cursor is
read. Buckets older than the retention are pruned, so the file stays small whatever the log holds.

A window (now - seconds, now] is read over the whole minutes it touches: it may take in up to a minute more
than asked for at its old end, never less.
"""

from __future__ import annotations

import json
import time

from claude_docker.alerting import files
from claude_docker.fsio import write_atomic
from claude_docker.locking import state_lock
from claude_docker.obs import jsonl, settings
from claude_docker.obs.catalog import METRICS
from claude_docker.obs.context import utc_seconds
from claude_docker.obs.promstate import _key

VERSION = 1
# The longest window the rules read (a day, for the backup age) and some margin.
RETENTION_S = 26 * 3600.0


class Damaged(ValueError):
    """A rollup file that is not one this tool writes."""


class Rollup:
    """Implements rules.Store over the metrics log. load(), catch_up(), then read; save() keeps the work."""

    def __init__(self, cursor: jsonl.Cursor | None = None, retention_s: float = RETENTION_S):
        self.cursor = cursor or jsonl.Cursor()
        self.retention_s = retention_s
        # metric -> series key -> [first minute, [sum of each minute from it on]]: dense, so a window is one slice
        self.counters: dict[str, dict[str, list]] = {}
        self.gauges: dict[str, dict[str, list[float]]] = {}  # metric -> series key -> [value, time]
        self.live: dict[str, list[tuple[dict, float]]] = {}
        self.dirty = False
        self._labels: dict[str, dict[str, str]] = {}
        self._minutes: dict[str, int] = {}
        self._les: dict[tuple[str, str], list[tuple[float, str]]] = {}

    @classmethod
    def load(cls, retention_s: float = RETENTION_S) -> Rollup:
        """The saved rollup; a new one (reading the whole log still kept) if there is none. A damaged file is
        set aside and the rollup starts over at the log's end: reading everything again would count the
        records before the damage on top of nothing, which is right, but at the cost of a full scan in the
        user's way; what the log held before is left out instead (said in the one damage event)."""
        path = files.rollup_file()
        try:
            return cls._from_json(json.loads(path.read_bytes()), retention_s)
        except FileNotFoundError:
            return cls(retention_s=retention_s)
        except (ValueError, RecursionError) as exc:  # Damaged, JSON, UnicodeDecodeError
            from claude_docker import damage

            log = settings.metrics_file()
            damage.set_aside(path, str(exc), f"the alert rollup starts over at the end of {log} (the alert rules "
                                             "see the counters recorded from now on, the gauges as last folded)")
            rollup = cls(jsonl.end(log), retention_s)
            rollup._seed_gauges()
            rollup.dirty = True
            return rollup

    def _seed_gauges(self) -> None:
        """The gauges' last values from the metrics fold (promstate), stamped now: an age rule (the last
        success, the last backup) must not fall silent because the rollup had to start over."""
        from claude_docker.obs import promstate

        now = time.time()
        try:
            series = promstate.load()["series"]
        except Exception:  # noqa: BLE001 - no fold to seed from: the gauges come back as they are recorded
            return
        for name, values in series.items():
            metric = METRICS.get(name)
            if metric is not None and metric.kind == "gauge" and isinstance(values, dict):
                self.gauges[name] = {key: [float(v), now] for key, v in values.items()
                                     if isinstance(v, (int, float)) and not isinstance(v, bool)}

    @classmethod
    def _from_json(cls, data: object, retention_s: float) -> Rollup:
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise Damaged("not an alert rollup of this version")
        try:
            cursor = jsonl.Cursor.from_json(data.get("cursor"))
        except ValueError as exc:
            raise Damaged(f"its cursor: {exc}") from None
        rollup = cls(cursor, retention_s)
        counters, gauges = data.get("counters"), data.get("gauges")
        if not isinstance(counters, dict) or not isinstance(gauges, dict):
            raise Damaged("no counters or gauges")
        for metric, series in counters.items():
            if not isinstance(series, dict):
                raise Damaged(f"{metric} is not a set of series")
            if not isinstance(series, dict):
                raise Damaged(f"{metric} is not a set of series")
            for item in series.values():
                # Checked with C-speed set(map(type)): the load is on the 100 ms evaluation budget.
                if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int
                        and isinstance(item[1], list) and set(map(type, item[1])) <= {int, float}):
                    raise Damaged(f"a series of {metric} is not minutes and counts")
            rollup.counters[metric] = series
        for metric, series in gauges.items():
            if not isinstance(series, dict) or not all(
                    isinstance(v, list) and len(v) == 2 and set(map(type, v)) <= {int, float} for v in series.values()):
                raise Damaged(f"a series of {metric} is not a value and a time")
            rollup.gauges[metric] = series
        return rollup

    def to_json(self) -> dict:
        return {"version": VERSION, "cursor": self.cursor.to_json(),
                "counters": self.counters,
                "gauges": self.gauges}

    def save(self) -> None:
        """Write the rollup with its cursor in one atomic write (nothing when nothing changed). Two processes
        saving in turn can only set the cursor back with the counts it belongs to: the next catch-up reads
        again what the older save had not, never counting a record twice."""
        if not self.dirty:
            return
        with state_lock("alert-rollup"):
            write_atomic(files.rollup_file(), json.dumps(self.to_json(), separators=(",", ":")).encode())
        self.dirty = False

    def catch_up(self, now: float | None = None) -> int:
        """Fold what the metrics log got since the cursor; returns how many records were read."""
        with state_lock("alert-rollup"):
            new = jsonl.read_new(settings.metrics_file(), self.cursor)
            if not new:
                return 0
            for line, _ in new:
                try:
                    self._apply(json.loads(line))
                except (ValueError, TypeError, KeyError, AttributeError):
                    continue  # not a record we wrote (a hand edit, a partial line from an old version)
            self.cursor = new[-1][1]
            self.prune(time.time() if now is None else now)
            self.dirty = True
        return len(new)

    def _minute(self, stamp: str) -> int:
        minute = self._minutes.get(stamp[:16])
        if minute is None:
            seconds = utc_seconds(stamp[:16] + ":00Z")
            if seconds is None:
                raise ValueError(f"not a time: {stamp[:40]!r}")
            minute = self._minutes[stamp[:16]] = int(seconds) // 60
        return minute

    def _apply(self, record: dict) -> None:
        metric = METRICS.get(record["metric"])
        if metric is None or metric.kind != record.get("type"):
            return
        value = record["value"]
        if type(value) not in (int, float):  # ints stay ints: the saved rollup parses faster
            return
        labels = record.get("labels") or {}
        key = _key({k: str(labels.get(k, "")) for k in metric.labels})
        if metric.kind == "gauge":
            when = utc_seconds(record["time"])
            if when is not None:
                self.gauges.setdefault(metric.name, {})[key] = [value, when]
            return
        minute = self._minute(record["time"])
        if metric.kind == "counter":
            self._add(metric.name, key, minute, value)
            return
        les = self._les.get((metric.name, key))
        if les is None:
            base = json.loads(key)
            les = self._les[(metric.name, key)] = [(float(bound), _key({**base, "le": repr(float(bound))}))
                                                   for bound in metric.buckets]
            les.append((float("inf"), _key({**base, "le": "+Inf"})))
        for bound, le in les:  # every bucket, the ones the value is above at 0, as Prometheus has them all
            self._add(metric.name + "_bucket", le, minute, 1 if value <= bound else 0)
        self._add(metric.name + "_count", key, minute, 1)
        self._add(metric.name + "_sum", key, minute, value)

    def _add(self, name: str, key: str, minute: int, value: float) -> None:
        series = self.counters.setdefault(name, {})
        item = series.get(key)
        if item is None:
            series[key] = [minute, [value]]
            return
        first, values = item
        if minute < first:  # a record older than any before it (a clock set back): room in front
            values[:0] = [0] * (first - minute)
            item[0] = first = minute
        at = minute - first
        if at >= len(values):
            values.extend([0] * (at + 1 - len(values)))
        values[at] += value

    def prune(self, now: float) -> None:
        """Drop the buckets older than the retention, and the series left with none."""
        oldest = int(now - self.retention_s) // 60
        for series in self.counters.values():
            for key in [k for k, (first, _) in series.items() if first < oldest]:
                first, values = series[key]
                if first + len(values) <= oldest:
                    del series[key]
                else:
                    series[key] = [oldest, values[oldest - first:]]

    def add_live(self, gauges: dict[str, list[tuple[dict, float]]]) -> None:
        """Gauges sampled now (gauges.live_gauges()): each replaces what the log says of the same metric."""
        self.live.update(gauges)

    def _labels_of(self, key: str) -> dict[str, str]:
        labels = self._labels.get(key)
        if labels is None:
            labels = self._labels[key] = json.loads(key)
        return dict(labels)

    def increase(self, metric: str, seconds: float, now: float) -> list[tuple[dict[str, str], float]]:
        """Per series of a counter (histograms: "<name>_bucket", "_count", "_sum"), its increase over the
        minutes (now - seconds, now] touches; 0.0 for a series the rollup holds with nothing in the window."""
        lo, hi = int(now - seconds) // 60, int(now) // 60
        found = []
        for key, (first, values) in self.counters.get(metric, {}).items():
            found.append((self._labels_of(key), float(sum(values[max(lo - first, 0):max(hi + 1 - first, 0)]))))
        return found

    def gauge(self, metric: str, now: float) -> list[tuple[dict[str, str], float]]:
        """The latest value per series: sampled now (add_live) if it was, else the last the log recorded."""
        if metric in self.live:
            return [(dict(labels), float(value)) for labels, value in self.live[metric]]
        return [(self._labels_of(key), float(value)) for key, (value, _) in self.gauges.get(metric, {}).items()]
