"""The kinds of condition an alert rule is made of, each meaning the same as PromQL (`promql()`) and over our
records (`evaluate(store, now)`): a ratio of increases, an increase, a gauge, an age, a histogram quantile; and the
label selectors they read with, matched as Prometheus matches them."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Union

from claude_docker.alerting.durations import format_duration

if TYPE_CHECKING:
    from collections.abc import Iterable

    from claude_docker.alerting.rules import Series, Store

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
        "!=": operator.ne}


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


# --- selectors ------------------------------------------------------------------------------------------------
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\Z")
_MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|\Z)')


@cache
def _anchored(pattern: str) -> re.Pattern:
    return re.compile(f"(?:{pattern})\\Z", re.DOTALL)


@dataclass(frozen=True)
class Selector:
    """A metric and its label matchers (=, !=, =~, !~; a regex anchored as Prometheus anchors it; a missing label
    is the empty string)."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Selector:
        m = _SELECTOR.match(text.strip())
        if not m:
            raise ValueError(f"not a selector: {text}")
        body, matchers, pos = m.group(2) or "", [], 0
        while pos < len(body):
            mm = _MATCHER.match(body, pos)
            if not mm or mm.end() == pos:
                raise ValueError(f"not a selector: {text}")
            matchers.append((mm.group(1), mm.group(2), mm.group(3).replace('\\"', '"').replace("\\\\", "\\")))
            pos = mm.end()
        return cls(m.group(1), tuple(matchers))

    def matches(self, labels: dict[str, str]) -> bool:
        for name, op, want in self.matchers:
            have = labels.get(name, "")
            ok = have == want if op in ("=", "!=") else bool(_anchored(want).match(have))
            if ok == (op in ("!=", "!~")):
                return False
        return True

    def promql(self, suffix: str = "") -> str:
        inner = ",".join(f'{n}{op}"{v}"' for n, op, v in ((n, op, v.replace("\\", "\\\\").replace('"', '\\"'))
                                                          for n, op, v in self.matchers))
        return f"{self.metric}{suffix}" + (f"{{{inner}}}" if inner else "")


def _group(series: Iterable[tuple[dict[str, str], float]], by: tuple[str, ...],
           fold=operator.add) -> dict[tuple[tuple[str, str], ...], float]:
    """Aggregate `by` labels (sum or max); an empty label value is no label, as in Prometheus' output."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for labels, value in series:
        key = tuple((n, labels.get(n, "")) for n in by)
        out[key] = fold(out[key], value) if key in out else value
    return out


def _labels(key: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {n: v for n, v in key if v}


def _by(by: tuple[str, ...]) -> str:
    return f" by ({', '.join(by)}) " if by else ""


# --- the kinds of condition -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ratio:
    """sum(increase(num[w])) / sum(increase(den[w])) OP threshold, per `by` group; with `min_count`, only groups
    whose denominator increased by at least that much (fewer is inconclusive)."""

    num: Selector
    den: Selector
    window: float
    op: str
    threshold: float
    by: tuple[str, ...] = ()
    min_count: float | None = None

    def promql(self) -> str:
        w = format_duration(self.window)
        den = f"sum{_by(self.by)}(increase({self.den.promql()}[{w}]))"
        text = f"sum{_by(self.by)}(increase({self.num.promql()}[{w}])) / {den} {self.op} {_number(self.threshold)}"
        if self.min_count is not None:
            text += f" and {den} >= {_number(self.min_count)}"
        return text

    def evaluate(self, store: Store, now: float) -> Series:
        num = _group(((lb, v) for lb, v in store.increase(self.num.metric, self.window, now) if self.num.matches(lb)),
                     self.by)
        den = _group(((lb, v) for lb, v in store.increase(self.den.metric, self.window, now) if self.den.matches(lb)),
                     self.by)
        out = []
        for key, n in num.items():
            if key not in den or (self.min_count is not None and not den[key] >= self.min_count):
                continue
            d = den[key]
            ratio = n / d if d else (math.nan if n == 0 else math.copysign(math.inf, n))
            if _OPS[self.op](ratio, self.threshold):
                out.append((_labels(key), ratio))
        return out


@dataclass(frozen=True)
class Increase:
    """sum [by] (increase(M{sel}[w])) OP threshold."""

    sel: Selector
    window: float
    op: str
    threshold: float
    by: tuple[str, ...] = ()

    def promql(self) -> str:
        return (f"sum{_by(self.by)}(increase({self.sel.promql()}[{format_duration(self.window)}])) "
                f"{self.op} {_number(self.threshold)}")

    def evaluate(self, store: Store, now: float) -> Series:
        sums = _group(((lb, v) for lb, v in store.increase(self.sel.metric, self.window, now)
                       if self.sel.matches(lb)), self.by)
        return [(_labels(k), v) for k, v in sums.items() if _OPS[self.op](v, self.threshold)]


@dataclass(frozen=True)
class Gauge:
    """max [by] (M{sel}) OP threshold."""

    sel: Selector
    op: str
    threshold: float
    by: tuple[str, ...] = ()
    window = None

    def promql(self) -> str:
        return f"max{_by(self.by)}({self.sel.promql()}) {self.op} {_number(self.threshold)}"

    def evaluate(self, store: Store, now: float) -> Series:
        maxes = _group(((lb, v) for lb, v in store.gauge(self.sel.metric, now) if self.sel.matches(lb)), self.by, max)
        return [(_labels(k), v) for k, v in maxes.items() if _OPS[self.op](v, self.threshold)]


@dataclass(frozen=True)
class Age:
    """time() - max(M{sel}) > threshold: how long ago the newest of a timestamp gauge's series was (seconds)."""

    sel: Selector
    threshold: float
    op: str = ">"
    window = None

    def promql(self) -> str:
        return f"time() - max({self.sel.promql()}) {self.op} {_number(self.threshold)}"

    def evaluate(self, store: Store, now: float) -> Series:
        stamps = [v for lb, v in store.gauge(self.sel.metric, now) if self.sel.matches(lb)]
        if not stamps:
            return []
        age = now - max(stamps)
        return [({}, age)] if _OPS[self.op](age, self.threshold) else []


@dataclass(frozen=True)
class Quantile:
    """histogram_quantile(q, sum by (le) (rate(M_bucket{sel}[w]))) OP threshold, interpolated within the bucket
    as Prometheus does (the +Inf bucket answers the next lower bound)."""

    q: float
    sel: Selector  # the histogram's name, without _bucket
    window: float
    op: str
    threshold: float

    def promql(self) -> str:
        return (f"histogram_quantile({_number(self.q)}, sum by (le) (rate({self.sel.promql('_bucket')}"
                f"[{format_duration(self.window)}]))) {self.op} {_number(self.threshold)}")

    def evaluate(self, store: Store, now: float) -> Series:
        buckets: dict[float, float] = {}
        for lb, v in store.increase(self.sel.metric + "_bucket", self.window, now):
            if "le" in lb and self.sel.matches(lb):
                le = float(lb["le"])  # "+Inf" too; "15" and "15.0" are one bucket
                buckets[le] = buckets.get(le, 0.0) + v
        if not buckets:
            return []
        value = bucket_quantile(self.q, sorted(buckets.items()))
        return [({}, value)] if _OPS[self.op](value, self.threshold) else []


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' bucketQuantile over (upper bound, cumulative count) sorted by bound: NaN without a +Inf
    bucket, with fewer than two buckets or no observations."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return math.nan
    counts, top = [], 0.0
    for _, c in buckets:  # counts are cumulative: a dip is a scrape artefact, smoothed as Prometheus does
        top = max(top, c)
        counts.append(top)
    total = counts[-1]
    if total == 0:
        return math.nan
    rank = q * total
    b = next(i for i, c in enumerate(counts) if c >= rank)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start = buckets[b - 1][0] if b > 0 else 0.0
    count = counts[b] - (counts[b - 1] if b > 0 else 0.0)
    rank -= counts[b - 1] if b > 0 else 0.0
    return start + (buckets[b][0] - start) * (rank / count)


Condition = Union[Ratio, Increase, Gauge, Age, Quantile]
