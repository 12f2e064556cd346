"""A promtool unit-test file read by Python: its input_series as samples, a Store over them, and our evaluator's
answer to each alert_rule_test, so one fixture checks that Prometheus and `claude-docker alert` agree.

The Store is the plain reading the rollup gives: increase = last minus first sample in (now-w, now] with counter
resets added back (no extrapolation: the fixture keeps values away from thresholds), a gauge = the latest sample
at or before now within Prometheus' 5-minute lookback, a stale marker ending it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from claude_docker.alerting.conditions import Selector
from claude_docker.alerting.durations import parse_duration

if TYPE_CHECKING:
    from claude_docker.alerting.rules import Rule

LOOKBACK = 300.0
STALE = None  # a stale marker among the samples
_NUM = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|Inf|NaN)"
_EXPAND = re.compile(rf"({_NUM})(?:([-+])({_NUM}))?x(\d+)\Z")


def expand(values: str) -> list[float | str | None]:
    """promtool's notation as one entry per interval: a number, STALE, or "_" (no sample)."""
    out: list[float | str | None] = []
    for word in values.split():
        if word == "stale":
            out.append(STALE)
        elif word == "_":
            out.append("_")
        elif word.startswith("_x"):
            out.extend(["_"] * int(word[2:]))
        elif m := _EXPAND.match(word):
            start, sign, step, n = float(m.group(1)), m.group(2), float(m.group(3) or 0), int(m.group(4))
            step = -step if sign == "-" else step
            out.extend(start + i * step for i in range(n + 1))
        else:
            out.append(float(word))
    return out


@dataclass
class SeriesStore:
    """The Store protocol over fixed samples: {(metric, labels): [(time, value or STALE)]}."""

    series: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float | None]]] = field(
        default_factory=dict)

    @classmethod
    def from_input(cls, input_series: list[dict], interval: float) -> SeriesStore:
        store = cls()
        for entry in input_series:
            sel = Selector.parse(entry["series"])
            key = (sel.metric, tuple(sorted((n, v) for n, _, v in sel.matchers)))
            store.series[key] = [(i * interval, v) for i, v in enumerate(expand(str(entry["values"])))
                                 if v != "_"]  # type: ignore[misc]
        return store

    def _of(self, metric: str):
        return ((dict(labels), samples) for (name, labels), samples in self.series.items() if name == metric)

    def increase(self, metric: str, seconds: float, now: float) -> list[tuple[dict[str, str], float]]:
        out = []
        for labels, samples in self._of(metric):
            inside = [v for t, v in samples if now - seconds < t <= now and v is not STALE]
            if len(inside) < 2:  # as Prometheus: no increase from a single sample
                continue
            total = 0.0
            for prev, cur in zip(inside, inside[1:]):
                total += cur - prev if cur >= prev else cur  # a reset starts the counter again from 0
            out.append((labels, total))
        return out

    def gauge(self, metric: str, now: float) -> list[tuple[dict[str, str], float]]:
        out = []
        for labels, samples in self._of(metric):
            recent = [v for t, v in samples if now - LOOKBACK < t <= now]
            if recent and recent[-1] is not STALE:
                out.append((labels, recent[-1]))
        return out


def firing(rule: Rule, store: SeriesStore, now: float, step: float) -> list[dict[str, str]]:
    """The alerts of `rule` firing at `now` for a rule evaluated every `step` from 0: an element fires when its
    condition held at every evaluation over the last `for` (Prometheus' pending, then firing)."""
    elements = {tuple(sorted(lb.items())) for lb, _ in rule.evaluate(store, now)}
    if rule.for_s:
        if now - rule.for_s < 0:
            return []
        t = now - step
        while elements and t >= now - rule.for_s - 1e-9:
            elements &= {tuple(sorted(lb.items())) for lb, _ in rule.evaluate(store, t)}
            t -= step
    return [dict(e, alertname=rule.name, severity=rule.severity) for e in sorted(elements)]


@dataclass(frozen=True)
class Case:
    """One alert_rule_test: what promtool expects, and what our evaluator said."""

    group: int
    alertname: str
    eval_time: float
    expected: list[dict[str, str]]
    got: list[dict[str, str]] | None  # None: a Prometheus-only rule, not ours to evaluate


def cases(path, rules: list[Rule]) -> list[Case]:
    """Every alert_rule_test of the promtool file at `path`, with our evaluator's answer."""
    with open(path) as fh:
        doc = yaml.safe_load(fh)
    step = parse_duration(doc.get("evaluation_interval", "1m"))
    by_name = {r.name: r for r in rules}
    out = []
    for n, test in enumerate(doc["tests"]):
        store = SeriesStore.from_input(test.get("input_series", []), parse_duration(test.get("interval", "1m")))
        for check in test.get("alert_rule_test", []):
            rule, now = by_name[check["alertname"]], parse_duration(check["eval_time"])
            expected = [dict({k: str(v) for k, v in a["exp_labels"].items()}, alertname=rule.name)
                        for a in check.get("exp_alerts") or []]
            got = firing(rule, store, now, step) if rule.evaluable else None
            out.append(Case(n, rule.name, now, sorted(expected, key=lambda d: sorted(d.items())),
                            None if got is None else sorted(got, key=lambda d: sorted(d.items()))))
    return out
